"""The answer pipeline, shared by every handler that writes a model answer into a thread:
model stream -> Slack reply, and one usage log line.

The user-visible promise: a correct answer appears in the thread, streamed, exactly once; a stop
really stops the model; every failure ends with a clear message in the thread.
"""

from __future__ import annotations

import time

from slack_sdk.errors import SlackApiError

from . import logs
from .context import Context
from .errors import ModelError
from .generations import Generation
from .jobs import Job
from .marks import EMPTY_NOTE, ERROR, INTERRUPTED_NOTE, STOPPED, STOPPED_NOTE, notice_metadata
from .slack_ops import slack_error
from .slack_reply import ReplyGone, SlackReply


def post_notice(ctx: Context, job: Job, text: str) -> None:
    """A short message in the thread that people see and the model never does."""
    ctx.slack.call(
        "chat_postMessage", team=job.team, channel=job.channel, thread_ts=job.reply_thread_ts, markdown_text=text,
        metadata=notice_metadata(job.message_ts),
    )


def stream_answer(ctx: Context, job: Job, messages: list[dict], *, log_fields: dict | None = None) -> str:
    """Stream the model's answer to `messages` into `job`'s thread. Returns the outcome."""
    started = time.monotonic()
    usage = {"team": job.team, "channel": job.channel, "user": job.user, "model": ctx.settings.openai_model,
             "kind": job.kind, **(log_fields or {})}
    generation = Generation()
    reply = SlackReply(
        ctx.slack, job, interval_s=ctx.settings.update_interval_s, refusals=ctx.refusals,
        on_message=lambda ts: ctx.generations.register(ts, generation),
    )
    stream, first_token, outcome = None, None, "done"
    try:
        reply.begin()
        stream = ctx.model.stream(messages)
        generation.attach(stream)
        for delta in stream:
            first_token = first_token or time.monotonic()
            reply.add(delta)
            if generation.cancelled.is_set():
                break
        if generation.cancelled.is_set():
            outcome = "stopped"
            reply.finish(STOPPED_NOTE, STOPPED)
        else:
            reply.finish("" if reply.text.strip() else EMPTY_NOTE)
    except ReplyGone:
        outcome = "stopped_in_slack"  # stopped on another instance, or deleted: write nothing more
    except ModelError as failure:
        outcome = "stopped" if generation.cancelled.is_set() else failure.kind
        note = STOPPED_NOTE if outcome == "stopped" else f"\n\n:warning: {failure.user_message}"
        _finish_quietly(ctx, job, reply, note, STOPPED if outcome == "stopped" else ERROR)
    except SlackApiError as exc:
        outcome = f"slack_{slack_error(exc)}"
        _notice_quietly(ctx, job, f":warning: I couldn't finish writing this answer in Slack ({slack_error(exc)}).")
    except Exception as exc:  # a Slack timeout, a bug: still end visibly, never leave a spinner
        outcome = f"error_{type(exc).__name__}"
        _finish_quietly(ctx, job, reply, f"\n\n:warning: {INTERRUPTED_NOTE}", ERROR)
    finally:
        if stream is not None:
            stream.close()
        reply.release()
        ctx.generations.forget(generation)
        logs.info(
            "answer", outcome=outcome, mode=reply.mode, messages=len(reply.message_ts), delivery=ctx.delivery,
            ttft_ms=round((first_token - started) * 1000) if first_token else None,
            duration_ms=round((time.monotonic() - started) * 1000),
            prompt_tokens=(stream.usage or {}).get("prompt_tokens") if stream else None,
            completion_tokens=(stream.usage or {}).get("completion_tokens") if stream else None,
            **usage,
        )
    return outcome


def _finish_quietly(ctx: Context, job: Job, reply: SlackReply, note: str, state: str) -> None:
    """End the answer with `note`; if the answer itself can't be written, post the note alone."""
    try:
        reply.finish(note, state)
    except ReplyGone:
        pass
    except Exception:
        _notice_quietly(ctx, job, note.strip())


def _notice_quietly(ctx: Context, job: Job, text: str) -> None:
    try:
        post_notice(ctx, job, text)
    except Exception as exc:  # Slack itself is failing: the log is all that is left
        error = slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__
        logs.error("notice_failed", error=error, channel=job.channel)
