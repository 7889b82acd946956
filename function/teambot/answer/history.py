"""Slack thread -> chat messages for the model (pure; the Slack read is in slack_ops).

The bot's own messages become `assistant` turns, everyone else's `user` turns; with more than
one human in the thread each user turn is prefixed with the speaker's <@id>. The new message
appears exactly once, and the oldest turns are dropped to fit MAX_CONTEXT_TOKENS.
"""

from __future__ import annotations

from teambot.core.jobs import Job
from teambot.slack.marks import is_notice, is_own
from teambot.slack.text import CHARS_PER_TOKEN, estimate_tokens, strip_mention

SKIPPED_SUBTYPES_ALLOWED = (None, "thread_broadcast", "file_share")


def build_messages(replies: list[dict], job: Job, *, bot_user_id: str, bot_id: str, system: str, max_tokens: int) -> list[dict]:
    turns: list[tuple[str, str, str]] = []  # (role, user id, text)
    seen_new = False
    for message in replies:
        ts = message.get("ts", "")
        if ts and job.message_ts and float(ts) > float(job.message_ts):
            break  # later messages are not part of this question
        if message.get("subtype") not in SKIPPED_SUBTYPES_ALLOWED:
            continue
        text = message.get("text") or ""
        if is_own(message, bot_user_id, bot_id):
            if is_notice(message) or not text.strip():
                continue
            turns.append(("assistant", "", text))
            continue
        if message.get("bot_id"):
            continue  # other bots' chatter is not part of the conversation
        if ts == job.message_ts:
            seen_new = True
            text = job.text  # the event's text is the authoritative one
        text = strip_mention(text, bot_user_id)
        if text:
            turns.append(("user", message.get("user", ""), text))
    if not seen_new:
        turns.append(("user", job.user, strip_mention(job.text, bot_user_id)))

    humans = {uid for role, uid, _ in turns if role == "user" and uid}
    rendered = [
        {"role": role, "content": f"<@{uid}>: {text}" if role == "user" and len(humans) > 1 and uid else text}
        for role, uid, text in turns
    ]
    return [{"role": "system", "content": system}] + _fit(rendered, max_tokens - estimate_tokens(system))


def _fit(messages: list[dict], budget: int) -> list[dict]:
    """Keep the newest turns that fit; the newest one always stays (cut from its start if huge)."""
    kept: list[dict] = []
    for message in reversed(messages):
        cost = estimate_tokens(message["content"])
        if kept and cost > budget:
            break
        if not kept and cost > budget:
            keep_chars = max(budget, 1) * CHARS_PER_TOKEN
            message = {**message, "content": "…" + message["content"][-keep_chars:]}
            cost = budget
        kept.append(message)
        budget -= cost
    kept.reverse()
    while kept and kept[0]["role"] == "assistant":
        kept.pop(0)  # a conversation should open with a user turn
    return kept
