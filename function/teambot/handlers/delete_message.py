"""Message shortcut "Delete bot message" (`delete_message`): delete one of the bot's messages,
stopping it first if it is still being written here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.core.jobs import Job
from teambot.core.registry import message_shortcut

if TYPE_CHECKING:
    from teambot.answer.services import Context

NOT_MINE = "I can only delete my own messages."


@message_shortcut("delete_message")
def delete_message(ctx: "Context", job: Job) -> None:
    from slack_sdk.errors import SlackApiError

    from teambot.core import logs
    from teambot.slack.client import slack_error
    from teambot.slack.shortcut_targets import cancel_here, refused_not_own

    if refused_not_own(ctx, job, NOT_MINE):
        return
    cancel_here(ctx, job)
    try:
        ctx.slack.call("chat_delete", team=job.team, channel=job.channel, ts=job.message_ts)
        confirmation = "Deleted."
    except SlackApiError as exc:
        if slack_error(exc) != "message_not_found":
            raise
        confirmation = "That message is already gone."
    logs.info("delete", team=job.team, channel=job.channel, user=job.user)
    ctx.slack.tell(job.channel, job.user, confirmation, job.thread_ts, team=job.team)
