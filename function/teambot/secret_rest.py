"""Reads one secret version: `GET https://secretmanager.googleapis.com/v1/{name}:access`.

Why not google-cloud-secret-manager here: its import (google.api_core, proto, grpc) took ~125 ms
of the first ack after a cold start, and the function only ever needs this one GET. The GET goes
through http.client (already loaded by the framework) with the token from gcp_token.py; the
official client stays in infra/rotate.py, which adds, lists and disables versions.

REST reference: https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access
(response `{"name", "payload": {"data": base64, "dataCrc32c"}}`; errors `{"error": {"code", "status"}}`).
A 401 drops the cached token and retries once, as google-auth's AuthorizedSession does.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import threading
from urllib.parse import urlsplit

from .gcp_token import TokenUnavailable

DEFAULT_ENDPOINT = "https://secretmanager.googleapis.com"


class SecretReadError(Exception):
    """One failed read. `status` is the HTTP status when Secret Manager answered, else None;
    `kind` is what to log (Google's status name or the transport error's type), never a value."""

    def __init__(self, kind: str, status: int | None = None):
        super().__init__(kind if status is None else f"HTTP {status} {kind}")
        self.kind = kind
        self.status = status


class SecretManagerRest:
    def __init__(self, endpoint: str | None, token, *, timeout_s: float):
        """`token`: a gcp_token source (headers(), invalidate()). `timeout_s` bounds each network
        operation (connect, send, each receive), as requests' `timeout` does."""
        parts = urlsplit((endpoint or DEFAULT_ENDPOINT).rstrip("/"))
        self._https = parts.scheme == "https"
        self._host, self._port, self._base = parts.hostname, parts.port, parts.path
        self._token = token
        self._timeout_s = timeout_s
        self._tls = None
        self._tls_lock = threading.Lock()

    def access(self, name: str) -> str:
        """The value of version `name` (projects/P/secrets/S/versions/V), stripped of whitespace."""
        status, body = self._get(f"{self._base}/v1/{name}:access")
        if status == 401:  # an expired or revoked token: fetch a new one, once
            self._token.invalidate()
            status, body = self._get(f"{self._base}/v1/{name}:access")
        if status != 200:
            raise SecretReadError(_google_status(body), status)
        try:
            return base64.b64decode(json.loads(body)["payload"]["data"], validate=True).decode("utf-8").strip()
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise SecretReadError("malformed response", status) from None

    def _get(self, path: str) -> tuple[int, bytes]:
        try:
            headers = {"Accept": "application/json", **self._token.headers()}
        except TokenUnavailable as exc:
            raise SecretReadError(exc.kind) from None
        conn = self._connection()
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as exc:  # refused, timed out, TLS, bad response
            raise SecretReadError(type(exc).__name__) from None
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


def _google_status(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"]["status"])
    except Exception:  # not Google's error shape (a proxy, an HTML page)
        return "unexpected response"
