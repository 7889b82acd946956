"""Builders shared by tests/integration/test_stage_handlers_*.py: an in-process worker Context
(the real Services: SlackOps over slack_sdk, the model client over the openai SDK, a usage ledger
on the in-process store) wired to the loopback Slack and OpenAI fakes, and `run`, which turns a
Slack payload into a Job with the real parsers and registry and runs its handler, as the worker
does. Nothing here starts a process or a server of its own."""

from __future__ import annotations

import pytest

from teambot.ack.payloads import job_from_event, job_from_interaction
from teambot.answer.services import Context, Services
from teambot.core.jobs import Job
from teambot.core.settings import Settings
from teambot.gcp.secret_store import SecretStore
from teambot.handlers import load_handlers
from teambot.slack.client import SlackOps
from teambot.usage.ledger import UsageLedger
from teambot.usage.store import MemoryUsageStore
from tests.harness import bot_env

REGISTRY = load_handlers()
WRITES = ("chat.postMessage", "chat.update", "chat.delete", "chat.startStream", "chat.appendStream", "chat.stopStream")


def make_context(slack, model, *, scheduled: list | None = None, **env) -> Context:
    """A worker's Context from the environment a deployed function would get (`env` adds to
    tests.harness.bot_env). `scheduled` collects what the handler schedules (ctx.schedule)."""
    settings = Settings.from_env(bot_env(slack, model, **env))
    secrets = SecretStore({"SLACK_BOT_TOKEN": "xoxb-test", "OPENAI_API_KEY": "sk-test"})

    def schedule(job: Job, delay_s: float) -> bool:
        if scheduled is None:
            raise AssertionError(f"unexpected schedule of {job.kind}")
        scheduled.append((job, delay_s))
        return True

    services = Services(
        settings=settings,
        secrets=secrets,
        slack=SlackOps(settings, secrets),
        usage=UsageLedger(MemoryUsageStore()),
        schedule=schedule,
    )
    return Context(services)


def parse(payload: dict, ctx: Context | None = None) -> Job | None:
    """The Job ingress makes of an event envelope or an interaction payload (None: not for us)."""
    if payload.get("type") == "event_callback":
        return job_from_event(payload, REGISTRY, ctx.settings if ctx else Settings())
    return job_from_interaction(payload, REGISTRY)


def run(ctx: Context, payload_or_job, *, delivery: int = 0) -> Job:
    """Parse (unless given a Job) and run the registered handler in this thread, as the worker
    does; returns the job."""
    job = payload_or_job if isinstance(payload_or_job, Job) else parse(payload_or_job, ctx)
    assert job is not None, "the payload was not for any handler"
    REGISTRY.get(job.kind).run(Context(ctx.services, delivery=delivery) if delivery else ctx, job)
    return job


def writes(slack, method_names=WRITES) -> list[dict]:
    """Accepted Slack calls that change a message."""
    return [c for c in slack.calls if c["method"] in method_names and c["status"] == 200 and c.get("ok")]


def said_to(slack, user: str) -> list[str]:
    """The ephemerals `user` got, in order."""
    return [e["text"] for e in slack.ephemerals if e["user"] == user]


def state(message: dict) -> str | None:
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("state")


@pytest.fixture(autouse=True)
def fresh_process_memory(monkeypatch):
    """The knowledge store ids and the MCP approval claims live in per-process memory (they must
    outlive one job); each test gets its own, as a fresh instance would."""
    from teambot.answer import claims, knowledge

    monkeypatch.setattr(knowledge, "_stores", {})
    monkeypatch.setattr(claims, "_claims", {})
