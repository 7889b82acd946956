"""Pure parsing of what Slack posts: Events API envelopes and interactivity payloads -> Job.

Which inputs exist is the registry's business (registry.py): an event goes to the handlers that
declared its type, a message shortcut to the one that declared its callback id, a block action to
the one that declared its action id. Returns None for traffic we accept but do not act on; raises
BadRequest for payloads that are not of Slack's shape.
"""

from __future__ import annotations

import re

from teambot.core.errors import BadRequest
from teambot.core.jobs import Job
from teambot.core.registry import Registry
from teambot.core.settings import Settings

TS = re.compile(r"^\d{1,12}\.\d{1,9}$")


def obj(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be an object")
    return value


def string(value, what: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadRequest(f"{what} must be a non-empty string")
    return value


def optional_string(value) -> str:
    return value if isinstance(value, str) else ""


def slack_ts(value, what: str) -> str:
    """Slack timestamps are "seconds.micros" strings; they are ids and ordering keys downstream."""
    if not isinstance(value, str) or not TS.match(value):
        raise BadRequest(f"{what} must be a Slack timestamp")
    return value


def envelope_team(envelope: dict) -> str:
    return optional_string(envelope.get("team_id"))


def bot_user_id(envelope: dict) -> str:
    auths = envelope.get("authorizations")
    if isinstance(auths, list) and auths and isinstance(auths[0], dict):
        return optional_string(auths[0].get("user_id"))
    return ""


def _workspace_id(value) -> str:
    """A workspace (team) id, `T...`; not an enterprise id (`E...`)."""
    return value if isinstance(value, str) and value.startswith("T") else ""


def user_team(event: dict, envelope: dict) -> str:
    """The workspace the asking user is in: a stream's `recipient_team_id`, "the ID of the team
    that is associated with recipient_user_id" (docs.slack.dev, chat.startStream arguments). For
    Slack Connect users it is their own team (event.user_team), not the installing one. On
    Enterprise Grid, `user_team` can be the enterprise id (`E...`, an org-level user): then the
    workspace is the event's `team` / `source_team` (where the message was written), or the
    authorization's team, never the `E...` id."""
    for value in (event.get("user_team"), event.get("team"), event.get("source_team")):
        if _workspace_id(value):
            return value
    auths = envelope.get("authorizations")
    if isinstance(auths, list):
        for auth in auths:
            if isinstance(auth, dict) and _workspace_id(auth.get("team_id")):
                return auth["team_id"]
    return envelope_team(envelope) or optional_string(event.get("user_team"))


def asking_team(event: dict) -> str:
    """The asking user's own team id as Slack sent it (`T...`, or `E...` for an org-level user)."""
    return optional_string(event.get("user_team")) or optional_string(
        event.get("user_profile", {}).get("team") if isinstance(event.get("user_profile"), dict) else ""
    )


def home_ids(envelope: dict) -> tuple[frozenset[str], frozenset[str]]:
    """(workspace ids, enterprise ids) the app is installed in, from the envelope's `team_id`,
    `enterprise_id` and `authorizations[]` (docs.slack.dev/apis/events-api: the event wrapper)."""
    teams, orgs = {envelope_team(envelope)}, {optional_string(envelope.get("enterprise_id"))}
    auths = envelope.get("authorizations")
    for auth in auths if isinstance(auths, list) else ():
        if isinstance(auth, dict):
            teams.add(optional_string(auth.get("team_id")))
            orgs.add(optional_string(auth.get("enterprise_id")))
    return frozenset(teams - {""}), frozenset(orgs - {""})


def job_from_event(envelope: dict, registry: Registry, settings: Settings | None = None) -> Job | None:
    """An `event_callback` envelope -> a Job for the first handler that wants it, or None."""
    event = obj(envelope.get("event"), "event")
    kind = string(event.get("type"), "event.type")
    for handler in registry.for_event(kind):
        job = handler.parse(envelope, settings or Settings()) if handler.parse else None
        if job is not None:
            return job
    return None


def job_from_interaction(payload: dict, registry: Registry) -> Job | None:
    """A message shortcut or block action -> the Job of the handler that declared it, or None."""
    kind = payload.get("type")
    if kind == "message_action":
        callback_id = payload.get("callback_id")
        handler = registry.for_shortcut(callback_id) if isinstance(callback_id, str) else None
        return _message_action(payload, handler.kind) if handler else None
    if kind == "block_actions":
        for action in payload.get("actions") or []:
            action_id = action.get("action_id") if isinstance(action, dict) else None
            handler = registry.for_action(action_id) if isinstance(action_id, str) else None
            if handler:
                return _block_action(payload, action, handler.kind)
    return None


def _message_action(payload: dict, kind: str) -> Job:
    message = obj(payload.get("message"), "message")
    thread_ts = message.get("thread_ts")
    user = string(obj(payload.get("user"), "user").get("id"), "user.id")
    return Job(
        kind=kind,
        team=string(obj(payload.get("team"), "team").get("id"), "team.id"),
        channel=string(obj(payload.get("channel"), "channel").get("id"), "channel.id"),
        user=user,
        message_ts=slack_ts(message.get("ts") or payload.get("message_ts"), "message.ts"),
        thread_ts=slack_ts(thread_ts, "message.thread_ts") if thread_ts else None,
        text=optional_string(message.get("text")),
        user_team=optional_string(obj(payload.get("user"), "user").get("team_id")),
        target={
            "user": optional_string(message.get("user")),
            "bot_id": optional_string(message.get("bot_id")),
            "metadata": message.get("metadata") if isinstance(message.get("metadata"), dict) else {},
        },
        nonce=user,  # two people may use the same shortcut on one message
    )


def _block_action(payload: dict, action: dict, kind: str) -> Job:
    container = obj(payload.get("container"), "container")
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    channel = obj(payload.get("channel"), "channel").get("id") or container.get("channel_id")
    thread_ts = message.get("thread_ts") or container.get("thread_ts")
    user = string(obj(payload.get("user"), "user").get("id"), "user.id")
    return Job(
        kind=kind,
        team=string(obj(payload.get("team"), "team").get("id"), "team.id"),
        channel=string(channel, "channel.id"),
        user=user,
        message_ts=slack_ts(container.get("message_ts") or message.get("ts"), "container.message_ts"),
        thread_ts=slack_ts(thread_ts, "message.thread_ts") if thread_ts else None,
        user_team=optional_string(obj(payload.get("user"), "user").get("team_id")),
        extra={"action_id": action["action_id"], "value": optional_string(action.get("value"))},
        nonce=f"{user}:{optional_string(action.get('action_ts'))}",  # every click counts once
    )
