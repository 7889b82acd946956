"""`assistant_thread_started`: a user opened the AI panel (a new assistant thread). Greet them
with the thread's context in the greeting's metadata, and suggest what to ask
(assistant.threads.setSuggestedPrompts, at most 4 prompts of {title, message}:
docs.slack.dev/reference/methods/assistant.threads.setSuggestedPrompts).

The greeting is the "first bot message" bolt-python's DefaultAssistantThreadContextStore keeps
the context in (docs.slack.dev/reference/events/assistant_thread_started: the event carries the
channel the user is viewing); assistant_thread_context_changed updates it. It is marked as a
notice, so the model never sees it as a turn of the conversation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.ack.payloads import envelope_team, obj, optional_string, slack_ts, string
from teambot.core.jobs import Job
from teambot.core.registry import on_event

if TYPE_CHECKING:
    from teambot.answer.services import Context
    from teambot.core.settings import Settings

GREETING = "Hi! Ask me anything, or pick one of the suggestions below."
PROMPTS_TITLE = "Try one of these:"


def assistant_thread_job(envelope: dict, kind: str, *, nonce: str = "") -> Job:
    """The job of an assistant_thread_* event: the thread is the AI panel's DM thread, and
    `extra.context` the ids of the channel in view (docs: channel_id, team_id, enterprise_id)."""
    event = obj(envelope.get("event"), "event")
    thread = obj(event.get("assistant_thread"), "event.assistant_thread")
    context = thread.get("context") if isinstance(thread.get("context"), dict) else {}
    thread_ts = slack_ts(thread.get("thread_ts"), "assistant_thread.thread_ts")
    return Job(
        kind=kind,
        team=envelope_team(envelope) or string(context.get("team_id"), "team_id"),
        channel=string(thread.get("channel_id"), "assistant_thread.channel_id"),
        user=string(thread.get("user_id"), "assistant_thread.user_id"),
        message_ts=thread_ts,
        thread_ts=thread_ts,
        channel_type="im",
        extra={"context": {k: context[k] for k in ("channel_id", "team_id", "enterprise_id") if isinstance(context.get(k), str)}},
        nonce=nonce,
    )


def read_thread_or_nothing(ctx: "Context", job: Job) -> list[dict]:
    """The thread's messages, or [] when Slack can't read it now (`thread_not_found` as the panel
    opens, a timeout): the handler then greets without what the thread holds, rather than not at
    all. The failure is logged once with its trace (logs.exception)."""
    from slack_sdk.errors import SlackApiError

    from teambot.core import logs
    from teambot.slack.client import failure_name

    try:
        return ctx.slack.thread(job.channel, job.thread_ts, team=job.team)
    except (SlackApiError, OSError, TimeoutError) as exc:
        logs.exception(
            "slack_read_failed",
            exc,
            kind=job.kind,
            method="conversations.replies",
            slack_error=failure_name(exc),
            channel=job.channel,
            degraded="greet_without_thread",
        )
        return []


def thread_started_job(envelope: dict, settings: "Settings") -> Job | None:
    return assistant_thread_job(envelope, "assistant_thread_started")


@on_event("assistant_thread_started", parse=thread_started_job, kind="assistant_thread_started")
def assistant_thread_started(ctx: "Context", job: Job) -> None:
    from slack_sdk.errors import SlackApiError

    from teambot.core import logs
    from teambot.core.access import allowed
    from teambot.slack.ai_panel import first_bot_message
    from teambot.slack.client import slack_error
    from teambot.slack.marks import context_metadata

    fields = {"team": job.team, "channel": job.channel, "user": job.user}
    if not allowed(ctx.settings, job):  # ALLOWED_*: their first question gets the explanation
        logs.info("assistant_thread_started", outcome="not_allowed", **fields)
        return
    bot_user, bot_id = ctx.slack.identity()
    # A redelivered event (Slack retry, task redelivery) finds its greeting already there.
    if first_bot_message(read_thread_or_nothing(ctx, job), bot_user, bot_id) is None:
        ctx.slack.call(
            "chat_postMessage",
            team=job.team,
            channel=job.channel,
            thread_ts=job.thread_ts,
            text=GREETING,
            metadata=context_metadata(job.extra.get("context") or {}),
        )
    try:
        ctx.slack.call(
            "assistant_threads_setSuggestedPrompts",
            team=job.team,
            channel_id=job.channel,
            thread_ts=job.thread_ts,
            title=PROMPTS_TITLE,
            prompts=[dict(p) for p in ctx.settings.suggested_prompts],
        )
        outcome = "prompts_set"
    except SlackApiError as exc:
        outcome = f"prompts_{slack_error(exc)}"
    logs.info(
        "assistant_thread_started",
        outcome=outcome,
        context_channel=optional_string((job.extra.get("context") or {}).get("channel_id")),
        **fields,
    )
