"""slack_manifest.yaml requests exactly the scopes the code needs, each with a comment naming
what needs it; infra/slack_scopes.py is the table between the two."""

import ast
import re

import slack_sdk
import yaml

from infra.slack_scopes import EVENT_SCOPES, FEATURE_SCOPES, METHOD_SCOPES, api_method
from tests.harness import REPO

MANIFEST = REPO / "slack_manifest.yaml"


def called_methods(root) -> dict[str, set[str]]:
    """Web API methods the code calls -> files calling them. Two forms: a string naming a
    WebClient method as the first argument of any `*call(...)` (SlackOps.call, _native_call,
    WebClient.api_call), and an attribute that is a WebClient API method (`client.chat_update`)."""
    webclient = {name for name in dir(slack_sdk.WebClient) if not name.startswith("_")}
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Call):
                func = node.func
                callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                first = node.args[0] if node.args else None
                if callee.endswith("call") and isinstance(first, ast.Constant) and isinstance(first.value, str):
                    names.append(first.value)
            if isinstance(node, ast.Attribute) and node.attr in webclient and "_" in node.attr:
                names.append(node.attr)
            for name in names:
                if name in webclient or "." in name:
                    for method in api_method(name):
                        found.setdefault(method, set()).add(str(path.relative_to(REPO)))
    return found


def manifest():
    return yaml.safe_load(MANIFEST.read_text())


def test_the_scanner_sees_the_calls_the_code_makes():
    found = called_methods(REPO / "function")
    # Known call sites today (slack_ops.thread, slack_reply, shortcuts): a scanner that finds
    # nothing would pass everything below.
    assert {"conversations.replies", "chat.update", "chat.postMessage", "chat.startStream", "auth.test"} <= set(found)


def test_every_called_method_has_a_line_in_the_scope_table():
    missing = {m: files for m, files in called_methods(REPO / "function").items() if m not in METHOD_SCOPES}
    assert not missing, f"add these to infra/slack_scopes.py METHOD_SCOPES: {missing}"


def test_the_manifest_requests_exactly_the_scopes_calls_events_and_features_need():
    m = manifest()
    requested = set(m["oauth_config"]["scopes"]["bot"])
    needed = {s for method in called_methods(REPO / "function") for s in METHOD_SCOPES[method]}
    events = m["settings"]["event_subscriptions"]["bot_events"]
    assert set(events) <= set(EVENT_SCOPES), "add the event to infra/slack_scopes.py EVENT_SCOPES"
    needed |= {s for event in events for s in EVENT_SCOPES[event]}
    needed |= {s for feature, scopes in FEATURE_SCOPES.items() if m["features"].get(feature) for s in scopes}
    assert requested - needed == set(), f"requested but needed by nothing the code calls: {requested - needed}"
    assert needed - requested == set(), f"needed but not requested: {needed - requested}"
    assert not {"im:read", "im:write"} & requested


def test_every_scope_line_says_what_needs_it():
    lines = MANIFEST.read_text().splitlines()
    start = lines.index("    bot:") + 1
    scope_lines = [line for line in lines[start:] if re.match(r"\s+- ", line)]
    scope_lines = scope_lines[: len(manifest()["oauth_config"]["scopes"]["bot"])]
    needers = {}
    for method, scopes in METHOD_SCOPES.items():
        for scope in scopes:
            needers.setdefault(scope, set()).add(method)
    for event, scopes in EVENT_SCOPES.items():
        for scope in scopes:
            needers.setdefault(scope, set()).add(event)
    for feature, scopes in FEATURE_SCOPES.items():
        for scope in scopes:
            needers.setdefault(scope, set()).add(f"features.{feature}")
    for line in scope_lines:
        scope, _, comment = line.strip()[2:].partition("#")
        scope = scope.strip()
        assert comment.strip(), f"{scope}: no comment naming the call or event that needs it"
        assert any(name in comment for name in needers.get(scope, ())), f"{scope}: comment names nothing that needs it"
