"""Pure parsing of what Slack posts: Events API envelopes and interactivity payloads -> Job.

Returns None for traffic we accept but do not act on (other event types, subtypes, the bot's
own messages); raises BadRequest for payloads that are not of Slack's shape.
"""

from __future__ import annotations

import re

from .errors import BadRequest
from .jobs import ANSWER, DELETE, STOP, Job
from .shortcut_ids import DELETE_MESSAGE, STOP_GENERATION

SHORTCUT_KINDS = {STOP_GENERATION: STOP, DELETE_MESSAGE: DELETE}
TS = re.compile(r"^\d{1,12}\.\d{1,9}$")


def _obj(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be an object")
    return value


def _str(value, what: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadRequest(f"{what} must be a non-empty string")
    return value


def _ts(value, what: str) -> str:
    """Slack timestamps are "seconds.micros" strings; they are ids and ordering keys downstream."""
    if not isinstance(value, str) or not TS.match(value):
        raise BadRequest(f"{what} must be a Slack timestamp")
    return value


def envelope_team(envelope: dict) -> str:
    team = envelope.get("team_id")
    return team if isinstance(team, str) else ""


def job_from_event(envelope: dict) -> Job | None:
    """An `event_callback` envelope -> an answer Job, or None when there is nothing to answer."""
    event = _obj(envelope.get("event"), "event")
    kind = _str(event.get("type"), "event.type")
    if kind not in ("message", "app_mention"):
        return None
    if "subtype" in event or event.get("bot_id") or event.get("app_id"):
        return None  # edits, deletes, joins, bot messages (our own included): never answered
    if kind == "message" and event.get("channel_type") != "im":
        return None
    bot_user_id = ""
    auths = envelope.get("authorizations")
    if isinstance(auths, list) and auths and isinstance(auths[0], dict):
        bot_user_id = auths[0].get("user_id") if isinstance(auths[0].get("user_id"), str) else ""
    user = _str(event.get("user"), "event.user")
    if bot_user_id and user == bot_user_id:
        return None
    text = _str(event.get("text", ""), "event.text", required=False)
    if not text.strip():
        return None
    thread_ts = event.get("thread_ts")
    return Job(
        kind=ANSWER,
        team=envelope_team(envelope) or _str(event.get("team"), "team_id"),
        channel=_str(event.get("channel"), "event.channel"),
        user=user,
        message_ts=_ts(event.get("ts"), "event.ts"),
        thread_ts=_ts(thread_ts, "event.thread_ts") if thread_ts is not None else None,
        text=text,
        channel_type=event.get("channel_type") if isinstance(event.get("channel_type"), str) else "",
        bot_user_id=bot_user_id,
    )


def job_from_interaction(payload: dict) -> Job | None:
    """A `message_action` (message shortcut) payload -> a stop/delete Job; other types -> None."""
    if payload.get("type") != "message_action":
        return None
    callback_id = payload.get("callback_id")
    kind = SHORTCUT_KINDS.get(callback_id) if isinstance(callback_id, str) else None
    if kind is None:
        return None
    message = _obj(payload.get("message"), "message")
    thread_ts = message.get("thread_ts")
    return Job(
        kind=kind,
        team=_str(_obj(payload.get("team"), "team").get("id"), "team.id"),
        channel=_str(_obj(payload.get("channel"), "channel").get("id"), "channel.id"),
        user=_str(_obj(payload.get("user"), "user").get("id"), "user.id"),
        message_ts=_ts(message.get("ts") or payload.get("message_ts"), "message.ts"),
        thread_ts=_ts(thread_ts, "message.thread_ts") if thread_ts else None,
        text=message.get("text") if isinstance(message.get("text"), str) else "",
        target={
            "user": message.get("user") if isinstance(message.get("user"), str) else "",
            "bot_id": message.get("bot_id") if isinstance(message.get("bot_id"), str) else "",
            "metadata": message.get("metadata") if isinstance(message.get("metadata"), dict) else {},
        },
    )
