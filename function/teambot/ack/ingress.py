"""The URL Slack calls: verify -> parse -> dedup -> hand off -> 200, in milliseconds.

Nothing slow happens here: no Slack Web API call, no model call, no `import openai`.
Order of checks (each a distinct status, see README "HTTP contract"):
  405 method, 413 size, 401 signature, 415 content type, 400 shape, then 200.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from teambot.ack.handoff import Handoff
from teambot.ack.payloads import asking_team, envelope_team, home_ids, job_from_event, job_from_interaction
from teambot.ack.signing import SigningSecretUnset, SlackRequestVerifier
from teambot.core import logs
from teambot.core.access import stranger_team
from teambot.core.errors import BadRequest
from teambot.core.registry import Registry
from teambot.core.settings import Settings

MAX_BODY_BYTES = 1024 * 1024
JSON_HEADERS = {"Content-Type": "application/json"}


def read_body(request) -> bytes:
    """The raw body, read once, refusing anything over 1 MiB before reading it all."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BadRequest("body too large", 413)
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest("body too large", 413)
    return body


def _json_object(raw: bytes | str, what: str) -> dict:
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return value


def _challenge(envelope: dict):
    challenge = envelope.get("challenge")
    if not isinstance(challenge, str) or not challenge:
        raise BadRequest("url_verification without a challenge")
    return json.dumps({"challenge": challenge}), 200, JSON_HEADERS


class Ingress:
    def __init__(self, settings: Settings, verifier: SlackRequestVerifier, handoff: Handoff, registry: Registry):
        self._settings = settings
        self.registry = registry
        self._verifier = verifier
        self._handoff = handoff

    def handle(self, request):
        if request.method != "POST":
            raise BadRequest("method not allowed", 405)
        body = read_body(request)
        headers = request.headers
        try:
            self._verifier.verify(body, headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature"))
        except SigningSecretUnset:
            # First deploy: Slack verifies the request URL before the operator can know the
            # signing secret. Echoing a challenge reveals nothing and triggers nothing.
            try:
                envelope = _json_object(body, "body") if request.mimetype == "application/json" else {}
            except BadRequest:
                envelope = {}
            if envelope.get("type") == "url_verification":
                logs.warning("url_verification_unsigned", reason="signing secret not configured yet")
                return _challenge(envelope)
            raise
        retry = headers.get("X-Slack-Retry-Num")
        if request.mimetype == "application/json":
            return self.on_envelope(_json_object(body, "body"), retry, headers.get("X-Slack-Retry-Reason"))
        if request.mimetype == "application/x-www-form-urlencoded":
            return self._on_form(body)
        raise BadRequest("unsupported content type", 415)

    # The two entry points after transport checks; Socket Mode (socket_mode.py) calls them too.
    def on_envelope(self, envelope: dict, retry: str | None = None, retry_reason: str | None = None):
        kind = envelope.get("type")
        if kind == "url_verification":
            return _challenge(envelope)
        if kind != "event_callback":
            return "", 200  # app_rate_limited and future envelope types: nothing to do
        allowed_teams = self._settings.allowed_team_ids
        if allowed_teams and envelope_team(envelope) not in allowed_teams:
            logs.warning("team_not_allowed", team=envelope_team(envelope))
            return "", 200
        job = job_from_event(envelope, self.registry, self._settings)
        if job is None:
            return "", 200
        event = envelope.get("event") or {}
        teams, orgs = home_ids(envelope)
        stranger = stranger_team(
            asking_team(event) or job.user_team,
            home_teams=teams | {job.team},
            home_orgs=orgs,
            ext_shared=envelope.get("is_ext_shared_channel") is True,
            allowed_external=self._settings.allowed_external_team_ids,
        )
        if stranger:  # Slack Connect: no model call, no Slack write (SECURITY.md)
            logs.info(
                "not_answered", reason="external_team", kind=job.kind, team=job.team, user_team=stranger, channel=job.channel
            )
            return "", 200
        return self._hand_off(job, retry=retry, retry_reason=retry_reason)

    def _on_form(self, body: bytes):
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=False)
        except UnicodeDecodeError:
            raise BadRequest("form body is not UTF-8") from None
        if "payload" not in form:
            raise BadRequest("form post without payload")
        return self.on_interaction(_json_object(form["payload"][0], "payload"))

    def on_interaction(self, payload: dict):
        job = job_from_interaction(payload, self.registry)
        if job is None:
            return "", 200
        if self._settings.allowed_team_ids and job.team not in self._settings.allowed_team_ids:
            logs.warning("team_not_allowed", team=job.team)
            return "", 200
        user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
        enterprise = payload.get("enterprise") if isinstance(payload.get("enterprise"), dict) else {}
        stranger = stranger_team(
            user.get("team_id") if isinstance(user.get("team_id"), str) else "",
            home_teams=frozenset({job.team}),
            home_orgs=frozenset({enterprise.get("id")} - {None, ""}),
            ext_shared=bool((payload.get("channel") or {}).get("is_ext_shared_channel", True))
            if isinstance(payload.get("channel"), dict)
            else True,
            allowed_external=self._settings.allowed_external_team_ids,
        )
        if stranger:  # a stranger's shortcut or click spends the key like a question
            logs.info("not_answered", reason="external_team", kind=job.kind, team=job.team, user_team=stranger)
            return "", 200
        return self._hand_off(job)

    def _hand_off(self, job, *, retry=None, retry_reason=None):
        accepted = self._handoff.enqueue(job)
        logs.info(
            "enqueued" if accepted else "duplicate",
            kind=job.kind,
            team=job.team,
            channel=job.channel,
            user=job.user,
            slack_retry=retry,
            slack_retry_reason=retry_reason,
        )
        return "", 200
