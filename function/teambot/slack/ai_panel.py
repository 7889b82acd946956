"""Slack's AI-app surface around an answer: the "is thinking…" status, the AI panel thread's
title, and the channel the user is looking at (the thread's context).

  * assistant.threads.setStatus (channel_id, thread_ts, status, loading_messages <= 10;
    docs.slack.dev/reference/methods/assistant.threads.setStatus) shows the status until the
    bot's next message or for 2 minutes. It accepts chat:write (changelog 2026-03), so it is
    set for every answer: AI panel, DMs, channel mentions. A refusal never stops an answer; it
    is logged once per process and error code, and refusals that concern the whole workspace
    (missing scope, unknown method) stop further calls.
  * assistant.threads.setTitle (assistant:write) names an AI panel thread after its first
    question, as Slack's bolt-python-assistant-template does.
  * The context (channel_id, team_id, enterprise_id of the channel in view) lives in the
    metadata of the bot's first message in the thread (marks.CONTEXT_EVENT), as bolt-python's
    DefaultAssistantThreadContextStore keeps it: no database. The model is told the channel's
    name, from conversations.info, and nothing else: the bot never reads that channel's
    messages, so whether the asking user is a member does not arise.

Top-level imports stay light (context.py holds a StatusMemory for the worker's services).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from teambot.core import logs
from teambot.slack.marks import CONTEXT_EVENT, answer_mark, is_own

if TYPE_CHECKING:
    from teambot.answer.services import Context
    from teambot.core.jobs import Job

THINKING = "is thinking…"
LOADING_MESSAGES = ["Reading the thread…", "Thinking it through…", "Writing an answer…"]
APP_THREAD_SUBTYPE = "assistant_app_thread"  # the root message of an AI panel thread
TITLE_LIMIT = 100  # Slack documents no limit for setTitle; a title is a line, not the question
# Refusals after which setStatus is not tried again in this process (they concern every channel).
WORKSPACE_REFUSALS = frozenset(
    {"missing_scope", "unknown_method", "not_allowed_token_type", "feature_not_enabled", "invalid_auth", "not_authed"}
)


class StatusMemory:
    """Which setStatus refusals were logged already, and whether to stop asking."""

    def __init__(self):
        self._logged: set[str] = set()
        self.off = False
        self._lock = threading.Lock()

    def refused(self, error: str, channel: str) -> None:
        with self._lock:
            first = error not in self._logged
            self._logged.add(error)
            if error in WORKSPACE_REFUSALS:
                self.off = True
        if first:
            logs.warning("status_refused", error=error, channel=channel, stops_trying=error in WORKSPACE_REFUSALS)


def set_thinking(ctx: "Context", job: "Job") -> None:
    """Show "is thinking…" in the thread the answer will go to. Never raises."""
    from slack_sdk.errors import SlackApiError

    from teambot.slack.client import slack_error

    memory = ctx.services.status
    if memory.off:
        return
    if not ctx.slack.budget.try_take(job.team, "assistant.threads.setStatus"):
        # A status line is worth a call only now: never wait for the method's budget (or a 429's
        # pause) while the answer, and in Cloud Tasks mode its request thread, waits behind it.
        logs.info("status_skipped", reason="rate_budget", channel=job.channel)
        return
    try:
        ctx.slack.call(
            "assistant_threads_setStatus",
            team=job.team,
            prepaid=True,
            channel_id=job.channel,
            thread_ts=job.reply_thread_ts,
            status=THINKING,
            loading_messages=LOADING_MESSAGES,
        )
    except SlackApiError as exc:
        memory.refused(slack_error(exc), job.channel)
    except Exception as exc:  # a timeout: the answer matters more than its status line
        if not logs.is_outage(exc):
            logs.exception("status_failed", exc, channel=job.channel)
        memory.refused(type(exc).__name__, job.channel)


def is_app_thread(replies: list[dict]) -> bool:
    """An AI panel thread: its root is Slack's assistant_app_thread message, or it carries our
    context mark (the root may be missing from a trimmed history)."""
    return any(m.get("subtype") == APP_THREAD_SUBTYPE or _context_of(m) is not None for m in replies)


def is_first_question(replies: list[dict], job: "Job", bot_user_id: str, bot_id: str) -> bool:
    """No earlier human message and no answer of ours before this one in the thread."""
    for message in replies:
        ts = message.get("ts") or ""
        if not ts or ts == job.message_ts or float(ts) > float(job.message_ts):
            continue
        if is_own(message, bot_user_id, bot_id):
            if answer_mark(message) is not None:
                return False
        elif not message.get("subtype") and not message.get("bot_id"):
            return False
    return True


def set_title(ctx: "Context", job: "Job", question: str) -> None:
    """Name the AI panel thread after its first question. Never raises."""
    from slack_sdk.errors import SlackApiError

    from teambot.slack.client import slack_error

    title = " ".join(question.split())
    if len(title) > TITLE_LIMIT:
        title = title[: TITLE_LIMIT - 1].rstrip() + "…"
    if not title:
        return
    try:
        ctx.slack.call(
            "assistant_threads_setTitle", team=job.team, channel_id=job.channel, thread_ts=job.reply_thread_ts, title=title
        )
    except SlackApiError as exc:
        logs.warning("title_refused", error=slack_error(exc), channel=job.channel)
    except Exception as exc:  # a timeout: a missing title never costs the answer
        logs.failed("title_refused", exc, channel=job.channel)


def _context_of(message: dict) -> dict | None:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload")
    return payload if metadata.get("event_type") == CONTEXT_EVENT and isinstance(payload, dict) else None


def first_bot_message(replies: list[dict], bot_user_id: str, bot_id: str) -> dict | None:
    """The message that holds the context: the bot's first plain message in the thread."""
    return next((m for m in replies if is_own(m, bot_user_id, bot_id) and not m.get("subtype")), None)


def thread_context(replies: list[dict], bot_user_id: str, bot_id: str) -> dict:
    message = first_bot_message(replies, bot_user_id, bot_id)
    return (_context_of(message) if message else None) or {}


def channel_note(ctx: "Context", context: dict) -> str:
    """One line for the system prompt naming the channel in view; "" when there is none.

    Only conversations.info is called (channels:read / groups:read), and only its `name` is
    used: the model gets the name, never the channel's messages. A DM in view has no name.
    Never raises."""
    from slack_sdk.errors import SlackApiError

    from teambot.slack.client import slack_error

    channel = context.get("channel_id")
    if not isinstance(channel, str) or channel[:1] not in ("C", "G"):
        return ""
    try:
        name = (
            (ctx.slack.call("conversations_info", team=str(context.get("team_id") or ""), channel=channel).get("channel")) or {}
        ).get("name")
    except SlackApiError as exc:  # private and the bot is not in it, or the scope is missing
        logs.info("context_channel_unknown", error=slack_error(exc), channel=channel)
        name = None
    except Exception as exc:  # a timeout: answer without the name rather than not at all
        logs.failed("context_channel_unknown", exc, channel=channel)
        name = None
    if not name:
        return f"The user is looking at the Slack channel <#{channel}>. You don't know its name and have not read its messages."
    return (
        f"The user is looking at the Slack channel #{name} (<#{channel}>). You know only its name; "
        "you have not read its messages, so don't claim to know what was said there."
    )
