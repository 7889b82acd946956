"""Step 1 of ingress: is this request really from Slack? (v0 HMAC on the raw body.)

The check is Slack's v0 scheme, written out here rather than imported: `slack_sdk.signature` is
twenty lines, but importing it runs `slack_sdk/__init__`, which imports the whole Web API client
(25 ms of the first ack, measured here on Python 3.12, warm disk cache). The code below computes
what slack_sdk 3.47's `SignatureVerifier.is_valid` computes (same message, same 5-minute window,
same int() parse of the timestamp, constant-time compare); tests/unit/test_signing.py proves they
agree on valid, tampered, stale, future and malformed requests with an injected clock.
Spec: https://docs.slack.dev/authentication/verifying-requests-from-slack/

On top of the check, secret rotation: a failure with the cached signing secret re-reads it, at
most once a minute, so unsigned traffic cannot turn into a flood of Secret Manager reads.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Protocol

from teambot.core.errors import Unauthorized
from teambot.gcp.secret_store import SecretStore, is_placeholder

SIGNING_SECRET = "SLACK_SIGNING_SECRET"
REFRESH_INTERVAL_S = 60.0
MAX_AGE_S = 60 * 5  # slack_sdk.signature: `abs(now - int(timestamp)) > 60 * 5` is stale


class Clock(Protocol):
    """Same shape as slack_sdk.signature.Clock, so either can be injected."""

    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()


def signature_is_valid(secret: str, body: bytes, timestamp: str, signature: str, now: float) -> bool:
    """Slack's v0 check. False (never an exception) for anything that is not a valid signature."""
    try:
        if abs(now - int(timestamp)) > MAX_AGE_S:
            return False
        # slack_sdk decodes the body as UTF-8 before signing it (a non-UTF-8 body fails there);
        # Slack only sends UTF-8, so refusing the rest keeps both verifiers identical.
        message = f"v0:{timestamp}:{body.decode('utf-8')}".encode()
    except ValueError:  # non-numeric timestamp, non-UTF-8 body (UnicodeDecodeError is a ValueError)
        return False
    expected = "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    # Bytes, not str: compare_digest raises TypeError on a non-ASCII str (a junk header).
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


class SigningSecretUnset(Unauthorized):
    """The operator has not set the signing secret yet (first deploy, before the Slack app exists)."""

    def __init__(self):
        super().__init__("signing secret not configured")


class SlackRequestVerifier:
    def __init__(self, secrets: SecretStore, clock: Clock | None = None):
        self._secrets = secrets
        self._clock = clock or SystemClock()

    def _valid(self, secret: str, body: bytes, timestamp: str, signature: str) -> bool:
        if is_placeholder(secret):
            return False  # a known placeholder must never verify anything
        return signature_is_valid(secret, body, timestamp, signature, self._clock.now())

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
