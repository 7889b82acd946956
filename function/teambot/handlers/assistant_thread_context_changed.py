"""`assistant_thread_context_changed`: the user moved to another channel while the AI panel is
open (docs.slack.dev/reference/events/assistant_thread_context_changed). Remember it in the
thread itself: the metadata of the bot's first message (the greeting), as bolt-python's
DefaultAssistantThreadContextStore.save does (chat.update keeping text, new metadata). No
database; the next answer reads it back with the thread (handlers/questions.py).

If the greeting is not there yet (this event overtook assistant_thread_started, or a workspace
where posting it failed), the context is posted with a greeting now, so it is not lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.ack.payloads import obj, optional_string
from teambot.core.jobs import Job
from teambot.core.registry import on_event
from teambot.handlers.assistant_thread_started import assistant_thread_job, read_thread_or_nothing

if TYPE_CHECKING:
    from teambot.answer.services import Context
    from teambot.core.settings import Settings


def context_changed_job(envelope: dict, settings: "Settings") -> Job | None:
    event = obj(envelope.get("event"), "event")
    # Several changes per thread: each counts once (the event_ts is the same on Slack's retries).
    return assistant_thread_job(
        envelope,
        "assistant_thread_context_changed",
        nonce=optional_string(event.get("event_ts")) or optional_string(envelope.get("event_id")),
    )


@on_event("assistant_thread_context_changed", parse=context_changed_job, kind="assistant_thread_context_changed")
def assistant_thread_context_changed(ctx: "Context", job: Job) -> None:
    from teambot.core import logs
    from teambot.core.access import allowed
    from teambot.handlers.assistant_thread_started import GREETING
    from teambot.slack.ai_panel import first_bot_message, thread_context
    from teambot.slack.marks import context_metadata

    context = job.extra.get("context") or {}
    if not allowed(ctx.settings, job):  # ALLOWED_*: the bot keeps nothing for people it won't answer
        logs.info("assistant_context", outcome="not_allowed", team=job.team, channel=job.channel, user=job.user)
        return
    bot_user, bot_id = ctx.slack.identity()
    replies = read_thread_or_nothing(ctx, job)  # unreadable: the context is posted with a greeting
    first = first_bot_message(replies, bot_user, bot_id)
    if first is None:
        ctx.slack.call(
            "chat_postMessage",
            team=job.team,
            channel=job.channel,
            thread_ts=job.thread_ts,
            text=GREETING,
            metadata=context_metadata(context),
        )
        outcome = "posted"
    elif thread_context(replies, bot_user, bot_id) == context_metadata(context)["event_payload"]:
        outcome = "unchanged"
    else:
        ctx.slack.call(
            "chat_update",
            team=job.team,
            channel=job.channel,
            ts=first["ts"],
            text=first.get("text") or GREETING,
            metadata=context_metadata(context),
        )
        outcome = "saved"
    logs.info(
        "assistant_context",
        outcome=outcome,
        team=job.team,
        channel=job.channel,
        user=job.user,
        context_channel=optional_string(context.get("channel_id")),
    )
