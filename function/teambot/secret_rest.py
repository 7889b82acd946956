"""Reads one secret version: `GET https://secretmanager.googleapis.com/v1/{name}:access`.

Why not google-cloud-secret-manager here: its import (google.api_core, proto, grpc) took ~125 ms
of the first ack after a cold start on Python 3.12, and the function only ever needs this one GET.
google-auth does the authentication, as in handoff.py: `google.auth.default()` (on Cloud Run the
metadata server's token for the runtime service account) and its `AuthorizedSession`, which adds
the token and refreshes it on expiry or 401. The official client stays in infra/rotate.py, which
adds, lists and disables versions.

REST reference: https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access
(response `{"name", "payload": {"data": base64, "dataCrc32c"}}`; errors `{"error": {"code", "status"}}`).
"""

from __future__ import annotations

import base64
import binascii
import threading

DEFAULT_ENDPOINT = "https://secretmanager.googleapis.com"
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class SecretReadError(Exception):
    """One failed read. `status` is the HTTP status when Secret Manager answered, else None;
    `kind` is what to log (Google's status name or the transport error's type), never a value."""

    def __init__(self, kind: str, status: int | None = None):
        super().__init__(kind if status is None else f"HTTP {status} {kind}")
        self.kind = kind
        self.status = status


class SecretManagerRest:
    def __init__(self, endpoint: str | None = None, *, timeout_s: float):
        self._endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        # An endpoint override is an emulator on loopback (tests, local runs; README "Configuration"):
        # no Google credentials there, as before with the client library.
        self._anonymous = endpoint is not None
        self._timeout_s = timeout_s
        self._session = None
        self._lock = threading.Lock()

    def access(self, name: str) -> str:
        """The value of version `name` (projects/P/secrets/S/versions/V), stripped of whitespace."""
        try:
            response = self._authorized_session().get(
                f"{self._endpoint}/v1/{name}:access", timeout=self._timeout_s, max_allowed_time=self._timeout_s
            )
        except Exception as exc:  # transport or credential failure: classify by type, never echo
            raise SecretReadError(type(exc).__name__) from None
        if response.status_code != 200:
            raise SecretReadError(_google_status(response), response.status_code)
        try:
            return base64.b64decode(response.json()["payload"]["data"], validate=True).decode("utf-8").strip()
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise SecretReadError("malformed response", response.status_code) from None

    def _authorized_session(self):
        with self._lock:  # the cold start reads three secrets at once: one session, one token fetch
            if self._session is None:
                from google.auth.transport.requests import AuthorizedSession, Request

                if self._anonymous:
                    from google.auth.credentials import AnonymousCredentials

                    credentials = AnonymousCredentials()
                else:
                    import google.auth

                    credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
                    if not credentials.valid:  # fetch the token once here, not once per concurrent read
                        credentials.refresh(Request())
                self._session = AuthorizedSession(credentials)
            return self._session


def _google_status(response) -> str:
    try:
        return str(response.json()["error"]["status"])
    except Exception:  # not Google's error shape (a proxy, an HTML page)
        return "unexpected response"
