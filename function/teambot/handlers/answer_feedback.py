"""Block action `answer_feedback`: a click on the 👍 / 👎 feedback buttons every finished answer
carries (answer_blocks.py). Ingress acks it like any interaction (in milliseconds); here: one
JSON log line (`"message":"feedback"`: rating, team, channel, user, message ts, model; never
text) and an ephemeral thanks. No model call, no Slack read."""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.core.jobs import Job
from teambot.core.registry import block_action
from teambot.slack.blocks import FEEDBACK_ACTION

if TYPE_CHECKING:
    from teambot.answer.services import Context

THANKS = {
    "good": "Thanks for the feedback! Glad it helped.",
    "bad": "Thanks for the feedback. Rephrasing the question, or starting a new thread, often helps.",
}


@block_action(FEEDBACK_ACTION)
def answer_feedback(ctx: "Context", job: Job) -> None:
    from teambot.core import logs
    from teambot.slack.blocks import parse_feedback

    parsed = parse_feedback(job.extra.get("value", ""))
    if parsed is None:
        logs.warning("feedback_ignored", reason="unknown value", team=job.team, channel=job.channel)
        return
    rating, model = parsed
    logs.info(
        "feedback", rating=rating, team=job.team, channel=job.channel, user=job.user, message_ts=job.message_ts, model=model
    )
    ctx.slack.tell(job.channel, job.user, THANKS[rating], job.thread_ts, team=job.team)
