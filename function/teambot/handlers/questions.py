"""A question: a DM to the bot (the Messages tab or the AI panel, whose messages are `message.im`
events in the assistant thread, with thread_ts), an @mention in a channel, or any new top-level
message in a channel whose profile has `answer_every_message`. Answered in the message's thread,
with the thread (and the files shared in it) as context; in a channel whose profile has
`translate_to`, the answer is the message's translation. Slack's AI-app surface around it
(status, title, the channel in view) is assistant_thread.py.

One message can arrive both as `message` (profile channel) and `app_mention`: both parse to the
same kind, team, channel and ts, so the dedup key (jobs.Job.dedup_key) makes it one answer."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from teambot.ack.payloads import bot_user_id, envelope_team, obj, optional_string, slack_ts, string, user_team
from teambot.core.jobs import Job
from teambot.core.registry import on_event

if TYPE_CHECKING:
    from teambot.answer.services import Context
    from teambot.core.settings import Settings

ANSWER = "answer"  # the job kind (also in logs and Cloud Tasks bodies)
# A plain message, one with files, a `/me` message, a thread reply also sent to the channel
# (docs.slack.dev/reference/events/message/me_message, .../thread_broadcast): all are questions.
SUBTYPES = (None, "file_share", "me_message", "thread_broadcast")
BARE_MENTION_HINT = (
    "Hi! Mention me together with a question, for example: _@me what does this error mean?_ "
    "I answer in the thread, with the thread and its files as context. In a DM, just write to me."
)


def _answers_every_message(event: dict, settings: "Settings") -> bool:
    """A new top-level message in a channel whose profile answers every message."""
    if event.get("channel_type") not in ("channel", "group"):
        return False
    if event.get("thread_ts") not in (None, event.get("ts")):
        return False  # thread replies there still need an @mention
    channel = event.get("channel")
    return isinstance(channel, str) and settings.profile(channel).answer_every_message


def question_from_event(envelope: dict, settings: "Settings") -> Job | None:
    event = obj(envelope.get("event"), "event")
    kind = event.get("type")
    if event.get("subtype") not in SUBTYPES or event.get("bot_id") or event.get("app_id"):
        return None  # edits, deletes, joins, bot messages (our own included): never answered
    if kind == "message" and event.get("channel_type") != "im" and not _answers_every_message(event, settings):
        return None  # elsewhere in channels only @mentions are questions
    bot = bot_user_id(envelope)
    user = string(event.get("user"), "event.user")
    if bot and user == bot:
        return None
    text = string(event.get("text", ""), "event.text", required=False)
    files = event.get("files") if isinstance(event.get("files"), list) else []
    if not text.strip() and not files:
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
        extra={"files": len(files)} if files else {},
    )


@on_event("message", "app_mention", parse=question_from_event, kind=ANSWER)
def answer_question(ctx: "Context", job: Job) -> None:
    from teambot.answer.files import attach, read_files
    from teambot.answer.history import build_messages
    from teambot.answer.pipeline import post_notice, stream_answer
    from teambot.answer.reading_steps import answer_steps
    from teambot.answer.takeover import existing_answer, take_over
    from teambot.core import logs
    from teambot.core.access import NOT_ALLOWED, allowed
    from teambot.core.prompts import instructions, translation_messages
    from teambot.slack.ai_panel import channel_note, is_app_thread, is_first_question, set_thinking, set_title, thread_context
    from teambot.slack.text import strip_mention

    profile = ctx.settings.profile(job.channel)
    fields = {"team": job.team, "channel": job.channel, "user": job.user, "model": profile.model or ctx.settings.openai_model}
    if not allowed(ctx.settings, job):
        unasked = job.channel_type in ("channel", "group") and f"<@{job.bot_user_id}>" not in job.text
        if not unasked:  # an every-message channel and no mention: a refusal under each message would be noise
            post_notice(ctx, job, NOT_ALLOWED)
        logs.info("answer", outcome="not_allowed", **fields)
        return
    if not strip_mention(job.text, job.bot_user_id or ctx.slack.identity()[0]) and not job.extra.get("files"):
        post_notice(ctx, job, BARE_MENTION_HINT)  # a bare @mention: a hint, no model call
        logs.info("answer", outcome="bare_mention", **fields)
        return
    set_thinking(ctx, job)  # first, before the thread read and the model's first token
    budget = ctx.usage.check_soon(job.team, job.user)  # daily token budgets, overlapped with the Slack reads
    bot_user, bot_id = ctx.slack.identity()
    # In a thread we need its history; a redelivered task also checks it was not answered already,
    # and takes over what an earlier attempt (an instance that died) left unfinished (takeover.py).
    # Files live in the thread's messages (conversations.replies has their full file objects).
    needs_thread = job.thread_ts or ctx.delivery or job.extra.get("files")
    replies = ctx.slack.thread(job.channel, job.reply_thread_ts, team=job.team) if needs_thread else []
    existing = existing_answer(replies, job.message_ts, bot_user, bot_id, by_position=ctx.delivery > 0)
    if existing.complete or (existing.partial and not ctx.delivery):  # a first delivery: being answered
        logs.info("answer", outcome="duplicate_delivery", delivery=ctx.delivery, **fields)
        return
    if existing.partial:
        take_over(ctx, job, existing.partial)
        replies = [m for m in replies if m not in existing.partial]
    if profile.translate_to:  # a translation channel: the answer is the message, translated
        text = strip_mention(job.text, job.bot_user_id or bot_user)[: ctx.settings.max_context_tokens * 4]
        if text.strip():  # only files: nothing to translate
            messages = translation_messages(ctx.settings, job.channel, text, profile.translate_to)
            stream_answer(ctx, job, messages, budget=budget)
        return
    if not job.text.strip():  # only files were shared: the question is about them
        job = replace(job, text="(shared without a message)")
    system = instructions(ctx.settings, job.channel)
    if job.thread_ts and is_app_thread(replies):  # the AI panel
        if is_first_question(replies, job, bot_user, bot_id):
            set_title(ctx, job, strip_mention(job.text, job.bot_user_id or bot_user))
        note = channel_note(ctx, thread_context(replies, bot_user, bot_id))
        system = f"{system}\n\n{note}" if note else system
    elif job.channel_type == "im" and (view := ctx.services.views.get((job.team, job.user))):  # agent view
        note = channel_note(ctx, view)
        system = f"{system}\n\n{note}" if note else system
    context_tokens = ctx.settings.max_context_tokens
    files = read_files(ctx, job, replies, context_tokens // 2)  # files get at most half, history the rest
    if profile.code_interpreter and ctx.model.api == "responses":  # the thread's data files -> the container
        from teambot.answer.code_files import with_container_files

        job, data_notes = with_container_files(ctx, job, replies)
        files.notes.extend(data_notes)
    messages = build_messages(
        replies,
        job,
        bot_user_id=job.bot_user_id or bot_user,
        bot_id=bot_id,
        system=system,
        max_tokens=context_tokens - files.tokens,
    )
    first = not job.thread_ts or is_first_question(replies, job, bot_user, bot_id)  # agent session title on creation
    stream_answer(
        ctx,
        job,
        attach(messages, files),
        notes=files.notes,
        budget=budget,
        title=strip_mention(job.text, job.bot_user_id or bot_user) if first else "",
        steps=answer_steps(replies, files, job, (bot_user, bot_id)),
    )
