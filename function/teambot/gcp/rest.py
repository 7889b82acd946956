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

from teambot.gcp.token import TokenUnavailable

MAX_IDLE = 16  # keep-alive connections kept per API (acks and answers running at once)


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
        self._lock = threading.Lock()
        # Idle keep-alive connections: a new TLS handshake to *.googleapis.com per call would add
        # tens of ms to every ack (requests' pool kept them alive for the AuthorizedSession too).
        self._idle: list[http.client.HTTPConnection] = []

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
        conn, reused = self._checkout()
        try:
            conn.request(method, self._base + path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:  # refused, timed out, TLS, bad response
            conn.close()
            if reused and not isinstance(exc, TimeoutError):
                # The server closed an idle connection before our request reached it: say it again
                # on a new one (safe: reads, and named tasks, which Cloud Tasks dedupes).
                return self._once(method, path, body)
            raise CallFailed(type(exc).__name__) from None
        if response.will_close:
            conn.close()
        else:
            with self._lock:
                if len(self._idle) < MAX_IDLE:
                    self._idle.append(conn)
                    conn = None
            if conn is not None:
                conn.close()
        return response.status, data

    def _checkout(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connection(), False

    def _connection(self) -> http.client.HTTPConnection:
        if not self._https:  # an emulator on loopback
            return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout_s)
        with self._lock:
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
