"""A question: a DM to the bot (the Messages tab or the AI panel, whose messages are `message.im`
events in the assistant thread, with thread_ts), or an @mention in a channel. Answered in the
message's thread, with the thread as context. Slack's AI-app surface around it (status, title,
the channel in view) is assistant_thread.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..jobs import Job
from ..registry import on_event
from ..slack_payloads import bot_user_id, envelope_team, obj, optional_string, slack_ts, string, user_team

if TYPE_CHECKING:
    from ..context import Context
    from ..env import Settings

ANSWER = "answer"  # the job kind (also in logs and Cloud Tasks bodies)


def question_from_event(envelope: dict, settings: "Settings") -> Job | None:
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
    from ..assistant_thread import channel_note, is_app_thread, is_first_question, set_thinking, set_title, thread_context
    from ..formatting import strip_mention
    from ..prompts import instructions
    from ..takeover import existing_answer, take_over
    from ..thread_context import build_messages

    fields = {"team": job.team, "channel": job.channel, "user": job.user, "model": ctx.settings.openai_model}
    if not allowed(ctx.settings, job):
        post_notice(ctx, job, NOT_ALLOWED)
        logs.info("answer", outcome="not_allowed", **fields)
        return
    set_thinking(ctx, job)  # first, before the thread read and the model's first token
    budget = ctx.usage.check_soon(job.team, job.user)  # daily token budgets, overlapped with the Slack reads
    bot_user, bot_id = ctx.slack.identity()
    # In a thread we need its history; a redelivered task also checks it was not answered already,
    # and takes over what an earlier attempt (an instance that died) left unfinished (takeover.py).
    replies = ctx.slack.thread(job.channel, job.reply_thread_ts) if job.thread_ts or ctx.delivery else []
    existing = existing_answer(replies, job.message_ts, bot_user, bot_id, by_position=ctx.delivery > 0)
    if existing.complete or (existing.partial and not ctx.delivery):  # a first delivery: being answered
        logs.info("answer", outcome="duplicate_delivery", delivery=ctx.delivery, **fields)
        return
    if existing.partial:
        take_over(ctx, job, existing.partial)
        replies = [m for m in replies if m not in existing.partial]
    system = instructions(ctx.settings, job.channel)
    if job.thread_ts and is_app_thread(replies):  # the AI panel
        if is_first_question(replies, job, bot_user, bot_id):
            set_title(ctx, job, strip_mention(job.text, job.bot_user_id or bot_user))
        note = channel_note(ctx, thread_context(replies, bot_user, bot_id))
        system = f"{system}\n\n{note}" if note else system
    messages = build_messages(
        replies, job, bot_user_id=job.bot_user_id or bot_user, bot_id=bot_id,
        system=system, max_tokens=ctx.settings.max_context_tokens,
    )
    stream_answer(ctx, job, messages, budget=budget)
