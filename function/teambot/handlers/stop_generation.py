"""Message shortcut "Stop generating" (`stop_generation`): stop an answer being written.

Stop works across instances because the signal lives in Slack itself:
  1. the answer is being written in this process -> cancel it here (closes the model stream);
  2. otherwise end its native stream with chat.stopStream: the writer's next appendStream fails
     with message_not_in_streaming_state and it closes its model stream;
  3. an update-mode answer still being written (metadata state "streaming") is replaced by a
     stopped copy: the writer's next chat.update fails with message_not_found, same effect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..jobs import Job
from ..marks import CURSOR, STOPPED, STOPPED_NOTE, STREAMING, answer_mark, answer_metadata, is_own, strip_cursor
from ..registry import message_shortcut

if TYPE_CHECKING:
    from ..context import Context

NOT_MINE = "That message isn't one of my answers, so there is nothing to stop."
ALREADY_DONE = "That answer is already complete; there is nothing to stop."
STOPPED_CONFIRMATION = "Stopped."


@message_shortcut("stop_generation")
def stop_generation(ctx: "Context", job: Job) -> None:
    from .. import logs

    if not is_own(job.target, *ctx.slack.identity()):
        ctx.slack.tell(job.channel, job.user, NOT_MINE, job.thread_ts, team=job.team)
        return
    generation = ctx.generations.get(job.message_ts)
    if generation is not None:
        generation.cancel()
        how = "local"
    else:
        how = _stop_elsewhere(ctx, job)
    logs.info("stop", how=how, team=job.team, channel=job.channel, user=job.user)
    ctx.slack.tell(job.channel, job.user, ALREADY_DONE if how == "already_done" else STOPPED_CONFIRMATION, job.thread_ts, team=job.team)


def _streaming_in_update_mode(job: Job) -> bool:
    mark = answer_mark(job.target)
    if mark is not None:
        return mark.get("state") == STREAMING
    return job.text.rstrip().endswith(CURSOR.strip())


def _stop_elsewhere(ctx: "Context", job: Job) -> str:
    from slack_sdk.errors import SlackApiError

    if not _streaming_in_update_mode(job):  # update-mode answers carry metadata from the start
        try:
            ctx.slack.call("chat_stopStream", team=job.team, channel=job.channel, ts=job.message_ts, markdown_text=STOPPED_NOTE)
            return "native_stream"
        except SlackApiError:
            return "already_done"  # not a live native stream, and not an update-mode one either
    reply_to = (answer_mark(job.target) or {}).get("reply_to", "")
    ctx.slack.call("chat_delete", team=job.team, channel=job.channel, ts=job.message_ts)
    ctx.slack.call(
        "chat_postMessage", team=job.team, channel=job.channel, thread_ts=job.thread_ts or job.message_ts,
        markdown_text=strip_cursor(job.text) + STOPPED_NOTE, metadata=answer_metadata(reply_to, STOPPED),
    )
    return "replaced"
