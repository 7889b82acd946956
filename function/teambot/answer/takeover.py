"""A redelivered task takes over the answer its earlier attempt left unfinished.

Cloud Run instances die mid-answer (out of memory, a rollout, a crash); the task's request then
fails and Cloud Tasks delivers it again, usually to another instance. The thread may then hold a
partial answer: update-mode messages marked "streaming"/"continued", or a native stream, still
open or ended by Slack, that carries no metadata at all.

How the redelivery finds it (what we chose, and why):
  * Our messages marked `reply_to` = the question: a final state (done, stopped, error) means
    the question is answered; "streaming"/"continued" mean a partial answer.
  * A native stream has no mark until it is stopped: chat.startStream takes no `metadata`
    (slack_sdk's `chat_startStream` has no such parameter, Slack's reference lists none) and
    chat.update can't add it while the message streams. So, on a redelivery only, our messages
    *without* an answer mark (and not notices), posted after the question and before the next
    message from a person in the thread, are taken as its unfinished native stream: the bot
    writes nothing else there. A native stream stopped with the stop shortcut carries "stopped"
    with an empty `reply_to` (the stop can't know the question) and is attributed the same way.
    A first delivery never attributes by position: a quick second question in the thread would
    otherwise take the first one's live stream for its own.
  * The partial answer is replaced, not continued: the model is asked again and a new generation
    is not a continuation of the old text, so the old text can't stay as its beginning. Each
    partial message is stopped (a still-open stream, with "stopped" metadata, so a writer that
    is in fact still alive reads it as a stop and gives up) and deleted, then the whole answer
    is written once.

Assumed, not verifiable here: conversations.replies lists a message while it is being streamed
(our fake does). Limit: two questions asked in one thread at the same moment, one redelivered
after its instance died, can't be told apart by position; README "Known limits".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from teambot.core import logs
from teambot.slack.marks import CONTINUED, STOPPED, STREAMING, answer_kind, answer_mark, answer_metadata, is_notice, is_own

if TYPE_CHECKING:
    from teambot.answer.services import Context
    from teambot.core.jobs import Job

PARTIAL_STATES = frozenset({STREAMING, CONTINUED})


@dataclass
class ExistingAnswer:
    complete: bool = False
    partial: list[dict] = field(default_factory=list)  # our unfinished messages, oldest first


def existing_answer(
    replies: list[dict],
    question_ts: str,
    bot_user_id: str,
    bot_id: str,
    *,
    by_position: bool,
    kind: str = "answer",
) -> ExistingAnswer:
    """What the thread already holds of our answer to `question_ts` (oldest-first `replies`);
    `by_position` also counts unattributed messages right after the question (a redelivery)."""
    found = ExistingAnswer()
    after_question, person_spoke = False, False
    for message in replies:
        ts = message.get("ts", "")
        if ts == question_ts:
            after_question = True
            continue
        if not is_own(message, bot_user_id, bot_id):
            if after_question and not message.get("bot_id") and message.get("subtype") != "bot_message":
                person_spoke = True
            continue
        mark = answer_mark(message)
        if mark is not None and answer_kind(mark) != kind:
            continue  # another kind of answer to the same message (a summary, a translation)
        reply_to = (mark or {}).get("reply_to")
        unattributed = (mark is None and not is_notice(message)) or (mark is not None and not reply_to)
        if reply_to != question_ts and not (by_position and unattributed and after_question and not person_spoke):
            continue
        if mark is not None and mark.get("state") not in PARTIAL_STATES:
            found.complete = True
        else:
            found.partial.append(message)
    return found


def answered_already(replies: list[dict], message_ts: str, bot_user_id: str, bot_id: str, *, kind: str) -> bool:
    """True when a finished answer of this kind to `message_ts` is in the thread (a redelivered task)."""
    return existing_answer(replies, message_ts, bot_user_id, bot_id, by_position=False, kind=kind).complete


def take_over(ctx: "Context", job: "Job", partial: list[dict]) -> None:
    """Stop and delete the partial answer's messages; the caller then answers in full."""
    from slack_sdk.errors import SlackApiError

    from teambot.slack.client import slack_error

    failed = 0
    for message in partial:
        ts = message.get("ts")
        if answer_mark(message) is None:  # maybe a native stream still open: end it as a stop first
            try:
                ctx.slack.call(
                    "chat_stopStream",
                    team=job.team,
                    channel=job.channel,
                    ts=ts,
                    metadata=answer_metadata(job.message_ts, STOPPED, job.kind),
                )
            except SlackApiError:
                pass  # already ended (Slack's ~5-minute limit): chat.delete still works
        try:
            ctx.slack.call("chat_delete", team=job.team, channel=job.channel, ts=ts)
        except SlackApiError as exc:
            if slack_error(exc) != "message_not_found":
                failed += 1  # still answer: a closed partial beside a full answer beats no answer
    logs.info("takeover", messages=len(partial), failed=failed, delivery=ctx.delivery, channel=job.channel)
