"""Step 1 of ingress: is this request really from Slack? (v0 HMAC on the raw body.)

slack_sdk's SignatureVerifier does the HMAC, the constant-time compare and the 5-minute window;
this adds secret rotation: a failure with the cached signing secret re-reads it, at most once a
minute, so unsigned traffic cannot turn into a flood of Secret Manager reads.
"""

from __future__ import annotations

from slack_sdk.signature import Clock, SignatureVerifier

from .errors import Unauthorized
from .secret_store import SecretStore, is_placeholder

SIGNING_SECRET = "SLACK_SIGNING_SECRET"
REFRESH_INTERVAL_S = 60.0


class SigningSecretUnset(Unauthorized):
    """The operator has not set the signing secret yet (first deploy, before the Slack app exists)."""

    def __init__(self):
        super().__init__("signing secret not configured")


class SlackRequestVerifier:
    def __init__(self, secrets: SecretStore, clock: Clock | None = None):
        self._secrets = secrets
        self._clock = clock or Clock()

    def _valid(self, secret: str, body: bytes, timestamp: str, signature: str) -> bool:
        if is_placeholder(secret):
            return False  # a known placeholder must never verify anything
        try:
            return SignatureVerifier(secret, clock=self._clock).is_valid(body, timestamp, signature)
        except ValueError:  # non-numeric timestamp
            return False

    def verify(self, body: bytes, timestamp: str | None, signature: str | None) -> None:
        if not timestamp or not signature:
            raise Unauthorized("missing Slack signature headers")
        if self._valid(self._secrets.get(SIGNING_SECRET), body, timestamp, signature):
            return
        if self._secrets.refresh(SIGNING_SECRET, min_interval_s=REFRESH_INTERVAL_S) and self._valid(
            self._secrets.get(SIGNING_SECRET), body, timestamp, signature
        ):
            return
        if is_placeholder(self._secrets.get(SIGNING_SECRET)):
            raise SigningSecretUnset()
        raise Unauthorized("invalid or stale Slack signature")
