"""The handler registry: every Slack input is declared once, next to its handler, and the
manifest, the payload parser and the worker all follow that one declaration."""

import json
import subprocess
import sys

import yaml

from teambot.ack.payloads import job_from_interaction
from teambot.answer.services import Context, Services
from teambot.core.jobs import Job
from teambot.core.registry import REGISTRY, Registry, message_shortcut
from teambot.handlers import load_handlers
from tests.harness import REPO, shortcut

MANIFEST = yaml.safe_load((REPO / "slack_manifest.yaml").read_text())
# Events API subscription names -> the event type Slack puts in the payload
SUBSCRIPTION_TYPES = {
    "message.im": "message",
    "message.channels": "message",
    "message.groups": "message",
    "message.mpim": "message",
}


def test_manifest_shortcuts_are_exactly_the_registered_ones():
    declared = {s["callback_id"] for s in MANIFEST["features"]["shortcuts"]}
    assert declared == load_handlers().shortcuts


# Handled for apps that have not moved to agent_view yet (their own, older manifest subscribes them).
LEGACY_EVENTS = {"assistant_thread_started", "assistant_thread_context_changed"}


def test_every_subscribed_event_has_a_handler_and_every_handler_is_subscribed():
    subscribed = {SUBSCRIPTION_TYPES.get(e, e) for e in MANIFEST["settings"]["event_subscriptions"]["bot_events"]}
    assert subscribed == load_handlers().event_types - LEGACY_EVENTS


def test_a_shortcut_declared_once_is_routed_to_its_handler():
    registry = load_handlers()
    ran = []

    @message_shortcut("test_only_shortcut")
    def test_only_shortcut(ctx, job):
        ran.append((ctx.delivery, job.kind, job.message_ts))

    try:
        message = {"channel": "C1", "ts": "2.000001", "user": "U2", "text": "hello"}
        job = job_from_interaction(shortcut("test_only_shortcut", message), registry)
        assert job.kind == "test_only_shortcut" and Job.from_json(job.to_json()) == job
        # The worker finds the same handler by the job's kind, as it does for a Cloud Tasks body.
        registry.get(job.kind).run(Context(Services(settings=None, secrets=None, slack=None), delivery=2), job)
        assert ran == [(2, "test_only_shortcut", "2.000001")]
    finally:
        REGISTRY._by_kind.pop("test_only_shortcut")


def test_a_registry_refuses_two_handlers_for_one_input():
    registry = Registry()
    registry.message_shortcut("x")(lambda ctx, job: None)
    try:
        registry.add(type(registry.get("x"))("other", lambda ctx, job: None, shortcut="x"))
    except ValueError as exc:
        assert "shortcut" in str(exc)
    else:
        raise AssertionError("a second handler for one shortcut was accepted")


def test_two_people_using_one_shortcut_on_one_message_are_two_jobs():
    message = {"channel": "C1", "ts": "2.000001", "user": "UBOT", "bot_id": "BBOT", "text": "x"}
    a = job_from_interaction(shortcut("delete_message", message, user="U1"), load_handlers())
    b = job_from_interaction(shortcut("delete_message", message, user="U2"), load_handlers())
    assert a.dedup_key() != b.dedup_key()


def test_no_import_cycle_between_the_function_modules():
    """Import every module of the function on its own, in a fresh interpreter: a cycle shows up
    as an ImportError for whichever module comes first."""
    script = (
        "import importlib, pkgutil, sys; import teambot\n"
        "names = [m.name for m in pkgutil.walk_packages(teambot.__path__, 'teambot.')]\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m.startswith('teambot.')]: del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
        "print(len(names))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 20


def test_module_level_cycle_check_is_real():
    """The cycle test above must be able to fail: a static check of the import graph agrees."""
    import ast
    import pathlib

    root = REPO / "function" / "teambot"
    graph = {}
    for path in pathlib.Path(root).rglob("*.py"):
        name = ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        deps = set()
        for node in tree.body:  # module level only: imports inside functions are lazy on purpose
            if isinstance(node, ast.ImportFrom) and node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if path.name == "__init__.py" else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
                deps.add(target)
        graph[name] = deps

    def visit(node, stack):
        if node in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack + [node]))
        for dep in graph.get(node, ()):
            visit(dep, stack + [node])

    for module in graph:
        visit(module, [])
    assert json.dumps(sorted(graph))  # the graph was really built
