"""Message shortcut "Stop generating" (`stop_generation`): stop an answer being written.

Stop works across instances because the signal lives in Slack itself:
  1. the answer is being written in this process -> cancel it here (closes the model stream);
     once its model has finished it is complete, even while the worker writes its last
     message and wraps up: "already complete" (generations.py decides which came first);
  2. otherwise end its native stream with chat.stopStream, with the stop note and "stopped"
     metadata: the writer's next appendStream fails with message_not_in_streaming_state, it
     reads the message back, sees the stop (not an expiry, stream_lifetime.py) and closes its
     model stream. A native stream carries no metadata until stopped, so the stop can't know
     which question it answers: reply_to stays empty (takeover.py attributes it by position);
  3. an update-mode answer still being written (metadata state "streaming") is replaced by a
     stopped copy: the writer's next chat.update fails with message_not_found, same effect.
Used on an earlier, closed part of a multi-message answer (state "continued": a long answer, or
one older than a native stream may live), the stop applies to the part still being written; so
does a stop whose part its writer closed in the meantime, and a native stop whose mark landed
after the writer had read the message back and gone on (docs/design.md, "Known limits").
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from teambot.core.jobs import Job
from teambot.core.registry import message_shortcut
from teambot.slack.marks import (
    CONTINUED,
    CURSOR,
    STOPPED,
    STOPPED_NOTE,
    STREAMING,
    answer_mark,
    answer_metadata,
    is_notice,
    is_own,
    strip_cursor,
)

if TYPE_CHECKING:
    from teambot.answer.services import Context

NOT_MINE = "That message isn't one of my answers, so there is nothing to stop."
ALREADY_DONE = "That answer is already complete; there is nothing to stop."
STOPPED_CONFIRMATION = "Stopped."


@message_shortcut("stop_generation")
def stop_generation(ctx: "Context", job: Job) -> None:
    from teambot.core import logs
    from teambot.slack.shortcut_targets import cancel_here, refused_not_own

    if refused_not_own(ctx, job, NOT_MINE):
        return
    how = cancel_here(ctx, job) or _stop_elsewhere(ctx, job)
    logs.info("stop", how=how, team=job.team, channel=job.channel, user=job.user)
    ctx.slack.tell(
        job.channel, job.user, ALREADY_DONE if how == "already_done" else STOPPED_CONFIRMATION, job.thread_ts, team=job.team
    )


def _streaming_in_update_mode(job: Job) -> bool:
    mark = answer_mark(job.target)
    if mark is not None:
        return mark.get("state") == STREAMING
    return job.text.rstrip().endswith(CURSOR.strip())


def _next_part(ctx: "Context", job: Job, thread: list[dict] | None = None) -> tuple[Job | None, bool]:
    """After the closed (or stopped) part `job` targets: (the answer's part still being written,
    or None; whether the answer has ended, or can't be followed). The answer is the one of `job`'s
    mark (`reply_to`); a native stream's stop mark names none, and then only our very next
    message counts, and only if no person has written since (takeover.py's rule): a quick second
    question's answer could be streaming there instead. With `reply_to` known, people writing
    while a part streams is ordinary (the next part comes after what they wrote). `thread`: the
    thread as just read, else it is read now."""
    reply_to = (answer_mark(job.target) or {}).get("reply_to") or None
    identity, person_spoke = ctx.slack.identity(), False
    for message in _thread(ctx, job) if thread is None else thread:
        if float(message.get("ts") or 0) <= float(job.message_ts):
            continue
        if not is_own(message, *identity):
            person_spoke = person_spoke or (not message.get("bot_id") and message.get("subtype") != "bot_message")
            continue
        if is_notice(message):
            continue
        mark = answer_mark(message)
        if mark is None:
            if reply_to is None and person_spoke:
                return None, True  # can't tell it from another question's answer: not followed
            return _as_part(job, message), False
        if reply_to is not None and mark.get("reply_to") != reply_to:
            continue  # another question's answer
        if mark.get("state") == CONTINUED:
            continue  # another closed part: the one being written comes later
        if mark.get("state") == STREAMING and reply_to is not None:
            return _as_part(job, message), False
        return None, True  # the answer has ended (or, unattributed, another one follows)
    return None, False


def _stop_elsewhere(ctx: "Context", job: Job, thread: list[dict] | None = None) -> str:
    from slack_sdk.errors import SlackApiError

    if (answer_mark(job.target) or {}).get("state") == CONTINUED:
        part, _ = _next_part(ctx, job, thread)
        if part is None:
            return "already_done"
        job = part
    if not _streaming_in_update_mode(job):  # update-mode answers carry metadata from the start
        try:
            ctx.slack.call(
                "chat_stopStream",
                team=job.team,
                channel=job.channel,
                ts=job.message_ts,
                markdown_text=STOPPED_NOTE,
                metadata=answer_metadata("", STOPPED),
            )
            return "native_stream"
        except SlackApiError:  # not a live native stream, and not an update-mode one either
            return _quietly(ctx, job, lambda: _closed_meanwhile(ctx, job), "already_done")
    reply_to = (answer_mark(job.target) or {}).get("reply_to", "")
    ctx.slack.call("chat_delete", team=job.team, channel=job.channel, ts=job.message_ts)
    ctx.slack.call(
        "chat_postMessage",
        team=job.team,
        channel=job.channel,
        thread_ts=job.thread_ts or job.message_ts,
        markdown_text=strip_cursor(job.text) + STOPPED_NOTE,
        metadata=answer_metadata(reply_to, STOPPED),
    )
    return "replaced"


def stop_message(ctx: "Context", job: Job, ts: str) -> str:
    """The native stop button's path for an answer message written on another instance
    (handlers/agent_session_stopped.py): Slack already stopped its stream, so it gets the stop
    note and "stopped" metadata by chat.update (the writer's read-back sees a stop, not an
    expiry); an update-mode answer is replaced, as by the shortcut. Returns how it stopped."""
    from slack_sdk.errors import SlackApiError

    thread = _thread(ctx, job)
    part = _as_part(job, _find(thread, ts))
    if part is None or not is_own(part.target, *ctx.slack.identity()):
        return "already_done"
    mark = answer_mark(part.target)
    # CONTINUED: the writer closed this part (e.g. it took Slack's stop for an expiry before the
    # mark below landed) and goes on in a later one: _stop_elsewhere stops the part being written.
    if mark is not None and mark.get("state") not in (STREAMING, CONTINUED, None):
        return "already_done"
    if mark is not None and mark.get("state") == CONTINUED:
        return _went_on(ctx, part, thread) or "already_done"
    if mark is None:  # a native stream: stopped by Slack, or still open (then stopStream ends it)
        try:
            ctx.slack.call(
                "chat_stopStream",
                team=job.team,
                channel=job.channel,
                ts=ts,
                markdown_text=STOPPED_NOTE,
                metadata=answer_metadata("", STOPPED),
            )
            return "native_stream"
        except SlackApiError:
            ctx.slack.call(
                "chat_update",
                team=job.team,
                channel=job.channel,
                ts=ts,
                markdown_text=strip_cursor(part.text) + STOPPED_NOTE,
                metadata=answer_metadata("", STOPPED),
            )
            return _quietly(ctx, part, lambda: _went_on(ctx, part), "marked")  # as Slack shows it after the mark
    return _stop_elsewhere(ctx, part)


def _quietly(ctx: "Context", job: Job, follow, fallback: str) -> str:
    """`follow()` (how it stopped, or None) catches a race after the stop's own step is done; a
    Slack failure in it is logged and the stop keeps `fallback` as its outcome."""
    from slack_sdk.errors import SlackApiError

    from teambot.core import logs
    from teambot.slack.client import failure_name

    try:
        return follow() or fallback
    except (SlackApiError, OSError, TimeoutError) as exc:
        logs.exception("stop_follow_up_failed", exc, kind=job.kind, slack_error=failure_name(exc), channel=job.channel)
        return fallback


def _closed_meanwhile(ctx: "Context", job: Job) -> str | None:
    """The stop found no live stream: if its writer has just closed it (a renewal before Slack's
    age limit), the stop applies to the part it goes on in."""
    thread = _thread(ctx, job)
    now = _as_part(job, _find(thread, job.message_ts))
    if now is not None and (answer_mark(now.target) or {}).get("state") == CONTINUED:
        return _stop_elsewhere(ctx, now, thread)
    return None


def _went_on(ctx: "Context", part: Job, thread: list[dict] | None = None) -> str | None:
    """`part`, as Slack shows it in `thread` (read now when not given), is closed ("continued")
    or was just marked stopped: stop the answer where its writer went on, if it did. How it
    stopped, or None if it had not gone on.

    Slack's native stop ends the stream; if the writer reads the message back before the stop
    mark lands, it takes the stop for an expiry (stream_lifetime.py), closes the part "continued"
    and goes on in a later one: that part is stopped too. If there is none yet, the closed part
    gets the mark (again, if the writer's "continued" landed over it): the writer looks at the part
    it closed before it starts the next (slack/reply.py)."""
    if thread is None:
        thread = _thread(ctx, part)
        part = _as_part(part, _find(thread, part.message_ts)) or part
    later, ended = _next_part(ctx, part, thread)
    if later is not None:
        return _stop_elsewhere(ctx, later)
    mark = answer_mark(part.target) or {}
    if ended or mark.get("state") != CONTINUED:
        return None
    ctx.slack.call(
        "chat_update",
        team=part.team,
        channel=part.channel,
        ts=part.message_ts,
        markdown_text=strip_cursor(part.text) + STOPPED_NOTE,
        metadata=answer_metadata(mark.get("reply_to", ""), STOPPED),
    )
    return "marked"


def _thread(ctx: "Context", job: Job) -> list[dict]:
    return ctx.slack.thread(job.channel, job.thread_ts or job.message_ts, team=job.team)


def _find(thread: list[dict], ts: str) -> dict | None:
    return next((m for m in thread if m.get("ts") == ts), None)


def _as_part(job: Job, message: dict | None) -> Job | None:
    """`job` aimed at `message` as Slack shows it now (its text and mark)."""
    if message is None:
        return None
    target = {"user": message.get("user", ""), "bot_id": message.get("bot_id", ""), "metadata": message.get("metadata") or {}}
    return replace(job, message_ts=message["ts"], text=message.get("text") or "", target=target)
