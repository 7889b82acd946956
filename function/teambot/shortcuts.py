"""The two message shortcuts (callback ids in shortcut_ids.py and slack_manifest.yaml).

Stop works across instances because the signal lives in Slack itself:
  1. the answer is being written in this process -> cancel it here (closes the model stream);
  2. otherwise end its native stream with chat.stopStream: the writer's next appendStream fails
     with message_not_in_streaming_state and it closes its model stream;
  3. an update-mode answer still being written (metadata state "streaming") is replaced by a
     stopped copy: the writer's next chat.update fails with message_not_found, same effect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from . import logs
from .answer import STOPPED_NOTE
from .jobs import Job
from .slack_ops import slack_error
from .slack_reply import CURSOR, metadata
from .thread_context import ANSWER_EVENT, is_own

if TYPE_CHECKING:
    from .worker import Worker

NOT_MINE_STOP = "That message isn't one of my answers, so there is nothing to stop."
NOT_MINE_DELETE = "I can only delete my own messages."
ALREADY_DONE = "That answer is already complete; there is nothing to stop."


def _target_is_own(worker: "Worker", job: Job) -> bool:
    bot_user_id, bot_id = worker.slack.identity()
    return is_own(job.target, bot_user_id, bot_id)


def _streaming_in_update_mode(job: Job) -> bool:
    meta = job.target.get("metadata") or {}
    if meta.get("event_type") == ANSWER_EVENT:
        return (meta.get("event_payload") or {}).get("state") == "streaming"
    return job.text.rstrip().endswith(CURSOR.strip())


def stop(worker: "Worker", job: Job, delivery: int = 0) -> None:
    if not _target_is_own(worker, job):
        worker.slack.tell(job.channel, job.user, NOT_MINE_STOP, job.thread_ts)
        return
    generation = worker.generations.get(job.message_ts)
    if generation is not None:
        generation.cancel()
        how = "local"
    else:
        how = _stop_elsewhere(worker, job)
    logs.info("stop", how=how, team=job.team, channel=job.channel, user=job.user)
    worker.slack.tell(job.channel, job.user, ALREADY_DONE if how == "already_done" else "Stopped.", job.thread_ts)


def _stop_elsewhere(worker: "Worker", job: Job) -> str:
    if not _streaming_in_update_mode(job):  # update-mode answers carry metadata from the start
        try:
            worker.slack.call("chat_stopStream", channel=job.channel, ts=job.message_ts, markdown_text=STOPPED_NOTE)
            return "native_stream"
        except SlackApiError:
            return "already_done"  # not a live native stream, and not an update-mode one either
    reply_to = ((job.target.get("metadata") or {}).get("event_payload") or {}).get("reply_to", "")
    partial = job.text.rstrip()
    partial = partial[: -len(CURSOR.strip())].rstrip() if partial.endswith(CURSOR.strip()) else partial
    worker.slack.call("chat_delete", channel=job.channel, ts=job.message_ts)
    worker.slack.call(
        "chat_postMessage", channel=job.channel, thread_ts=job.thread_ts or job.message_ts,
        markdown_text=partial + STOPPED_NOTE,
        metadata={**metadata(Job("answer", job.team, job.channel, job.user, reply_to), "stopped")},
    )
    return "replaced"


def delete(worker: "Worker", job: Job, delivery: int = 0) -> None:
    if not _target_is_own(worker, job):
        worker.slack.tell(job.channel, job.user, NOT_MINE_DELETE, job.thread_ts)
        return
    generation = worker.generations.get(job.message_ts)
    if generation is not None:
        generation.cancel()
    try:
        worker.slack.call("chat_delete", channel=job.channel, ts=job.message_ts)
        confirmation = "Deleted."
    except SlackApiError as exc:
        if slack_error(exc) != "message_not_found":
            raise
        confirmation = "That message is already gone."
    logs.info("delete", team=job.team, channel=job.channel, user=job.user)
    worker.slack.tell(job.channel, job.user, confirmation, job.thread_ts)
