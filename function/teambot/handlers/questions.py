"""A question: a DM to the bot, or an @mention in a channel. Answered in the message's thread,
with the thread as context."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..jobs import Job
from ..registry import on_event
from ..slack_payloads import bot_user_id, envelope_team, obj, optional_string, slack_ts, string, user_team

if TYPE_CHECKING:
    from ..context import Context

ANSWER = "answer"  # the job kind (also in logs and Cloud Tasks bodies)


def question_from_event(envelope: dict) -> Job | None:
    event = obj(envelope.get("event"), "event")
    kind = event.get("type")
    if "subtype" in event or event.get("bot_id") or event.get("app_id"):
        return None  # edits, deletes, joins, bot messages (our own included): never answered
    if kind == "message" and event.get("channel_type") != "im":
        return None  # in channels only @mentions are questions
    bot = bot_user_id(envelope)
    user = string(event.get("user"), "event.user")
    if bot and user == bot:
        return None
    text = string(event.get("text", ""), "event.text", required=False)
    if not text.strip():
        return None
    thread_ts = event.get("thread_ts")
    return Job(
        kind=ANSWER,
        team=envelope_team(envelope) or string(event.get("team"), "team_id"),
        channel=string(event.get("channel"), "event.channel"),
        user=user,
        message_ts=slack_ts(event.get("ts"), "event.ts"),
        thread_ts=slack_ts(thread_ts, "event.thread_ts") if thread_ts is not None else None,
        text=text,
        channel_type=optional_string(event.get("channel_type")),
        bot_user_id=bot,
        user_team=user_team(event, envelope),
    )


@on_event("message", "app_mention", parse=question_from_event, kind=ANSWER)
def answer_question(ctx: "Context", job: Job) -> None:
    from .. import logs
    from ..access import NOT_ALLOWED, allowed
    from ..answer import post_notice, stream_answer
    from ..prompts import instructions
    from ..thread_context import answered_already, build_messages

    fields = {"team": job.team, "channel": job.channel, "user": job.user, "model": ctx.settings.openai_model}
    if not allowed(ctx.settings, job):
        post_notice(ctx, job, NOT_ALLOWED)
        logs.info("answer", outcome="not_allowed", **fields)
        return
    bot_user, bot_id = ctx.slack.identity()
    # In a thread we need its history; a redelivered task also checks it was not answered already.
    replies = ctx.slack.thread(job.channel, job.reply_thread_ts, team=job.team) if job.thread_ts or ctx.delivery else []
    if answered_already(replies, job.message_ts, bot_user, bot_id):
        logs.info("answer", outcome="duplicate_delivery", delivery=ctx.delivery, **fields)
        return
    messages = build_messages(
        replies, job, bot_user_id=job.bot_user_id or bot_user, bot_id=bot_id,
        system=instructions(ctx.settings, job.channel), max_tokens=ctx.settings.max_context_tokens,
    )
    stream_answer(ctx, job, messages)
