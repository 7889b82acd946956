"""The answer job: thread context -> model stream -> Slack reply, and one usage log line.

The user-visible promise: a correct answer appears in the thread, streamed, exactly once; a stop
really stops the model; every failure ends with a clear message in the thread.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from . import logs
from .errors import ModelError
from .generations import Generation
from .jobs import Job
from .prompts import instructions
from .slack_ops import slack_error
from .slack_reply import ReplyGone, SlackReply
from .thread_context import NOTICE_EVENT, answered_already, build_messages

if TYPE_CHECKING:
    from .worker import Worker

STOPPED_NOTE = "\n\n_⏹ Stopped._"
EMPTY_NOTE = "_The model returned an empty answer. Please rephrase and try again._"
INTERRUPTED = "Something went wrong while writing this answer. Please try again."
NOT_ALLOWED = "Sorry, I'm not enabled for you in this conversation. Ask a workspace admin if you need access."


def not_allowed(worker: "Worker", job: Job) -> bool:
    s = worker.settings
    channel_ok = (
        not s.allowed_channel_ids
        or job.channel in s.allowed_channel_ids
        or (job.channel_type == "im" and "im" in s.allowed_channel_ids)
    )
    user_ok = not s.allowed_user_ids or job.user in s.allowed_user_ids
    return not (channel_ok and user_ok)


def post_notice(worker: "Worker", job: Job, text: str) -> None:
    worker.slack.call(
        "chat_postMessage", channel=job.channel, thread_ts=job.reply_thread_ts, markdown_text=text,
        metadata={"event_type": NOTICE_EVENT, "event_payload": {"reply_to": job.message_ts}},
    )


def answer(worker: "Worker", job: Job, delivery: int = 0) -> None:
    started = time.monotonic()
    usage = {"team": job.team, "channel": job.channel, "user": job.user, "model": worker.settings.openai_model}
    if not_allowed(worker, job):
        post_notice(worker, job, NOT_ALLOWED)
        logs.info("answer", outcome="not_allowed", **usage)
        return
    bot_user_id, bot_id = worker.slack.identity()
    # In a thread we need its history; a redelivered task also checks it was not answered already.
    replies = worker.slack.thread(job.channel, job.reply_thread_ts) if job.thread_ts or delivery else []
    if answered_already(replies, job.message_ts, bot_user_id, bot_id):
        logs.info("answer", outcome="duplicate_delivery", delivery=delivery, **usage)
        return
    messages = build_messages(
        replies, job, bot_user_id=job.bot_user_id or bot_user_id, bot_id=bot_id,
        system=instructions(worker.settings, job.channel), max_tokens=worker.settings.max_context_tokens,
    )
    generation = Generation()
    reply = SlackReply(
        worker.slack, job, interval_s=worker.settings.update_interval_s,
        on_message=lambda ts: worker.generations.register(ts, generation),
    )
    stream, first_token, outcome = None, None, "done"
    try:
        reply.begin()
        stream = worker.model.stream(messages)
        generation.attach(stream)
        for delta in stream:
            first_token = first_token or time.monotonic()
            reply.add(delta)
            if generation.cancelled.is_set():
                break
        if generation.cancelled.is_set():
            outcome = "stopped"
            reply.finish(STOPPED_NOTE, "stopped")
        else:
            reply.finish("" if reply.text.strip() else EMPTY_NOTE)
    except ReplyGone:
        outcome = "stopped_in_slack"  # stopped on another instance, or deleted: write nothing more
    except ModelError as failure:
        outcome = "stopped" if generation.cancelled.is_set() else failure.kind
        note = STOPPED_NOTE if outcome == "stopped" else f"\n\n:warning: {failure.user_message}"
        _finish_quietly(worker, job, reply, note, "stopped" if outcome == "stopped" else "error")
    except SlackApiError as exc:
        outcome = f"slack_{slack_error(exc)}"
        _notice_quietly(worker, job, f":warning: I couldn't finish writing this answer in Slack ({slack_error(exc)}).")
    except Exception as exc:  # a Slack timeout, a bug: still end visibly, never leave a spinner
        outcome = f"error_{type(exc).__name__}"
        _finish_quietly(worker, job, reply, f"\n\n:warning: {INTERRUPTED}", "error")
    finally:
        if stream is not None:
            stream.close()
        worker.generations.forget(generation)
        logs.info(
            "answer", outcome=outcome, mode=reply.mode, messages=len(reply.message_ts), delivery=delivery,
            ttft_ms=round((first_token - started) * 1000) if first_token else None,
            duration_ms=round((time.monotonic() - started) * 1000),
            prompt_tokens=(stream.usage or {}).get("prompt_tokens") if stream else None,
            completion_tokens=(stream.usage or {}).get("completion_tokens") if stream else None,
            **usage,
        )


def _finish_quietly(worker: "Worker", job: Job, reply: SlackReply, note: str, state: str) -> None:
    """End the answer with `note`; if the answer itself can't be written, post the note alone."""
    try:
        reply.finish(note, state)
    except ReplyGone:
        pass
    except Exception:
        _notice_quietly(worker, job, note.strip())


def _notice_quietly(worker: "Worker", job: Job, text: str) -> None:
    try:
        post_notice(worker, job, text)
    except Exception as exc:  # Slack itself is failing: the log is all that is left
        error = slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
        logs.error("notice_failed", error=error, channel=job.channel)
