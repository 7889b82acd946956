"""One JSON call to a Google REST API, authenticated, on the standard library's http.client.

What google-auth's AuthorizedSession does for these calls (add the bearer token, on a 401 drop it
and retry once), without importing requests and google-auth's transport before the first ack
(~65 ms of a cold start; see gcp_token.py). Used by the Secret Manager reads and the Cloud Tasks
hand-off, the two Google calls made while Slack waits.
"""

from __future__ import annotations

import http.client
import json
import threading
from urllib.parse import urlsplit

from .gcp_token import TokenUnavailable


class CallFailed(Exception):
    """No HTTP answer: no token, refused, timed out, TLS. `kind` is loggable (never a secret)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class GoogleRest:
    def __init__(self, endpoint: str, token, *, timeout_s: float):
        """`token`: a gcp_token source (headers(), invalidate()). `timeout_s` bounds each network
        operation (connect, send, each receive), as requests' `timeout` does."""
        parts = urlsplit(endpoint.rstrip("/"))
        self._https = parts.scheme == "https"
        self._host, self._port, self._base = parts.hostname, parts.port, parts.path
        self._token = token
        self._timeout_s = timeout_s
        self._tls = None
        self._tls_lock = threading.Lock()

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        """(status, raw body) of `method {endpoint}{path}`; a 401 is retried once with a new token."""
        status, data = self._once(method, path, body)
        if status == 401:  # an expired or revoked token
            self._token.invalidate()
            status, data = self._once(method, path, body)
        return status, data

    def _once(self, method: str, path: str, body: dict | None) -> tuple[int, bytes]:
        try:
            headers = {"Accept": "application/json", **self._token.headers()}
        except TokenUnavailable as exc:
            raise CallFailed(exc.kind) from None
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn = self._connection()
        try:
            conn.request(method, self._base + path, body=payload, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:  # refused, timed out, TLS, bad response
            raise CallFailed(type(exc).__name__) from None
        finally:
            conn.close()

    def _connection(self) -> http.client.HTTPConnection:
        if not self._https:  # an emulator on loopback
            return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
        with self._tls_lock:
            if self._tls is None:
                import ssl

                self._tls = ssl.create_default_context()  # the system's CAs, hostname checked
        return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout_s, context=self._tls)


def google_status(body: bytes) -> str:
    """Google's error status name (`PERMISSION_DENIED`...) from an error body, for logs."""
    try:
        return str(json.loads(body)["error"]["status"])
    except Exception:  # not Google's error shape (a proxy, an HTML page)
        return "unexpected response"
