"""Message shortcut "Translate" (`translate_message`): translate that message into the channel
profile's `translate_to` language, else the clicking user's Slack locale (users.info with
include_locale; needs the users:read scope), posted in the message's thread, streamed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.core.jobs import Job
from teambot.core.registry import message_shortcut

if TYPE_CHECKING:
    from teambot.answer.services import Context

FALLBACK_LANGUAGE = "English"
NO_TEXT = "That message has no text to translate."


def user_language(ctx: "Context", user: str, team: str = "") -> str:
    """The user's Slack locale (e.g. `fr-FR`), as words the model understands."""
    from slack_sdk.errors import SlackApiError

    try:
        locale = (ctx.slack.call("users_info", team=team, user=user, include_locale=True).get("user") or {}).get("locale")
    except SlackApiError:
        locale = None  # no users:read, or the user is gone: still translate, into the fallback
    return f"the language of the Slack locale {locale}" if locale else FALLBACK_LANGUAGE


@message_shortcut("translate_message")
def translate_message(ctx: "Context", job: Job) -> None:
    from teambot.answer.pipeline import stream_answer
    from teambot.answer.takeover import answered_already
    from teambot.core.access import NOT_ALLOWED, allowed
    from teambot.core.prompts import translation_messages

    if not allowed(ctx.settings, job):
        ctx.slack.tell(job.channel, job.user, NOT_ALLOWED, job.thread_ts, team=job.team)
        return
    text = job.text.strip()[: ctx.settings.max_context_tokens * 4]
    if not text:
        ctx.slack.tell(job.channel, job.user, NO_TEXT, job.thread_ts, team=job.team)
        return
    if ctx.delivery:  # a redelivered task: the first attempt may have answered already
        replies = ctx.slack.thread(job.channel, job.reply_thread_ts, team=job.team)
        if answered_already(replies, job.message_ts, *ctx.slack.identity(), kind=job.kind):
            return
    language = ctx.settings.profile(job.channel).translate_to or user_language(ctx, job.user, job.team)
    stream_answer(ctx, job, translation_messages(ctx.settings, job.channel, text, language))
