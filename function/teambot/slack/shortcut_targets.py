"""What message shortcuts on the bot's answers share: is the target ours, and is it being
written in this process (then cancelling it here closes the model stream at once)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.core.jobs import Job
from teambot.slack.marks import is_own

if TYPE_CHECKING:
    from teambot.answer.services import Context


def refused_not_own(ctx: "Context", job: Job, refusal: str) -> bool:
    """True, after telling the user `refusal`, when the shortcut was used on someone else's message."""
    if is_own(job.target, *ctx.slack.identity()):
        return False
    ctx.slack.tell(job.channel, job.user, refusal, job.thread_ts, team=job.team)
    return True


def cancel_here(ctx: "Context", job: Job) -> str | None:
    """Cancel the answer being written into the target message by this process, if it is: "local"
    when cancelled, "already_done" when its model had finished (the worker may still be writing
    its last message), None when no answer of this process writes there.

    The target can be an answer's first message before the writer knows its ts (Slack shows it
    the moment chat.startStream lands, the ts comes back after): it is then the thread's one
    answer of this process that has no message yet. Found so, the stop is local and the answer
    loop ends it properly (its thinking steps settled); a stop through Slack would end the
    stream under the writer, and leave its steps spinning."""
    generation = ctx.generations.get(job.message_ts)
    if generation is None and job.thread_ts:
        generation = ctx.generations.first_message_in_flight(job.channel, job.thread_ts, job.message_ts)
    if generation is None:
        return None
    return "local" if generation.cancel() else "already_done"
