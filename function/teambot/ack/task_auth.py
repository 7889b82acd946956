"""The task route's gate: only Cloud Tasks, acting as the invoker service account, may run jobs.

The function is public (Slack must reach it), so the task route verifies the Google-signed OIDC
token itself: signature and expiry (google-auth), audience == FUNCTION_URL, issuer, and
`email` == TASKS_INVOKER_SA with `email_verified`.
"""

from __future__ import annotations

import threading
import time

from teambot.core.errors import CertsUnavailable, Forbidden, Unauthorized

ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CERTS_TTL_S = 300.0


class _CachedCertsRequest:
    """A google-auth transport that caches GETs (the signing certs) for a few minutes,
    so each task costs no extra round trip to Google."""

    def __init__(self, ttl_s: float = CERTS_TTL_S):
        from google.auth.transport.requests import Request

        self._inner = Request()
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        if method != "GET":
            return self._inner(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)
        with self._lock:
            hit = self._cache.get(url)
        if hit and time.monotonic() - hit[0] < self._ttl_s:
            return hit[1]
        response = self._inner(url, method=method, headers=headers, timeout=timeout or 10, **kwargs)
        if response.status == 200:
            with self._lock:
                self._cache[url] = (time.monotonic(), response)
        return response


class TaskAuthenticator:
    def __init__(self, *, audience: str | None, invoker_email: str | None, certs_url: str):
        self._audience = audience
        self._invoker_email = invoker_email
        self._certs_url = certs_url
        self._request = None

    def verify(self, authorization: str | None) -> dict:
        if not self._audience or not self._invoker_email:
            raise Forbidden("task route disabled: FUNCTION_URL / TASKS_INVOKER_SA not set")
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:  # the scheme is case-insensitive (RFC 7235)
            raise Unauthorized("missing bearer token")
        from google.auth import exceptions, jwt
        from google.oauth2 import id_token

        if self._request is None:
            self._request = _CachedCertsRequest()
        try:
            jwt.decode_header(token)  # not even a JWT: refused without asking Google for its certs
        except (ValueError, TypeError):
            raise Unauthorized("invalid OIDC token") from None
        try:
            claims = id_token.verify_token(
                token,
                self._request,
                audience=self._audience,
                certs_url=self._certs_url,
                clock_skew_in_seconds=10,
            )
        except exceptions.TransportError:  # the certs, not the token: no verdict either way
            raise CertsUnavailable("Google's token-signing certs could not be fetched") from None
        except (ValueError, exceptions.GoogleAuthError):
            raise Unauthorized("invalid OIDC token") from None
        if claims.get("iss") not in ISSUERS:
            raise Unauthorized("OIDC token from an unexpected issuer")
        if claims.get("email") != self._invoker_email or claims.get("email_verified") is not True:
            raise Forbidden("OIDC token is not the task invoker's")
        return claims
