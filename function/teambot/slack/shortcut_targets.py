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


def cancel_here(ctx: "Context", message_ts: str) -> str | None:
    """Cancel the answer being written into `message_ts` by this process, if it is: "local" when
    cancelled, "already_done" when its model had finished (the worker may still be writing its
    last message), None when no answer of this process writes there."""
    generation = ctx.generations.get(message_ts)
    if generation is None:
        return None
    return "local" if generation.cancel() else "already_done"
