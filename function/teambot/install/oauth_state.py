"""The OAuth `state` of /slack/install -> /slack/oauth_redirect: signed, expiring, single use.

    state = "<issued_at>.<nonce>.<hmac>"   hmac = HMAC-SHA256(key, "<issued_at>.<nonce>"), base64url

The key is derived from the app's client secret, which every instance has: any instance can
check a state that another one issued. The nonce is also set as an HttpOnly cookie on the
browser that opened /slack/install, and must come back with the state: a state lifted from one
browser's URL does not work in another (login CSRF).

Single use: each instance remembers the nonces it redeemed until they expire anyway (10 min).
That set is per instance; a replay that lands on another instance passes this check, but the
OAuth `code` that goes with it is single use at Slack (oauth.v2.access answers invalid_code), so
nothing is written either way. Clock injectable for tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

STATE_TTL_S = 600.0
CLOCK_SKEW_S = 60.0  # instances' clocks differ a little; a state "from the future" beyond this is forged


class StateRejected(Exception):
    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason, self.status = reason, status


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OAuthStates:
    def __init__(self, key: bytes, *, ttl_s: float = STATE_TTL_S, clock: Callable[[], float] = time.time):
        self._key = key
        self._ttl_s = ttl_s
        self._clock = clock
        self._used: dict[str, float] = {}  # nonce -> issued_at
        self._lock = threading.Lock()

    @classmethod
    def for_client_secret(cls, client_secret: str, **kwargs) -> "OAuthStates":
        # A key of its own, not the client secret itself: the secret is never used for two purposes.
        return cls(hmac.new(client_secret.encode(), b"teambot/oauth-state/v1", hashlib.sha256).digest(), **kwargs)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self) -> tuple[str, str]:
        """(state for the authorize URL, nonce for the browser cookie)."""
        nonce = secrets.token_urlsafe(16)
        payload = f"{int(self._clock())}.{nonce}"
        return f"{payload}.{self._sign(payload)}", nonce

    def redeem(self, state: str, cookie_nonce: str | None) -> None:
        """Accept `state` once, or raise StateRejected saying why."""
        issued_s, _, rest = (state or "").partition(".")
        nonce, _, signature = rest.partition(".")
        if not (issued_s.isdigit() and nonce and signature) or not hmac.compare_digest(
            self._sign(f"{issued_s}.{nonce}"), signature
        ):
            raise StateRejected("the install link is not valid (forged or damaged state)")
        now, issued = self._clock(), float(issued_s)
        if now - issued > self._ttl_s or issued - now > CLOCK_SKEW_S:
            raise StateRejected("the install link expired (it lasts 10 minutes): open the install URL again")
        if not hmac.compare_digest(nonce, cookie_nonce or ""):
            raise StateRejected("this install was started in another browser: open the install URL here", 403)
        with self._lock:
            for old in [n for n, t in self._used.items() if now - t > self._ttl_s + CLOCK_SKEW_S]:
                del self._used[old]  # expired ones fail the time check anyway
            if nonce in self._used:
                raise StateRejected("this install link was already used: open the install URL again")
            self._used[nonce] = issued
