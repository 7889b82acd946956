"""The function's Google access token, for the REST calls made before the first ack.

On Cloud Run the token of the runtime service account comes from the metadata server, one GET
(Cloud Run container contract: https://cloud.google.com/run/docs/container-contract#metadata-server,
`GET http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token`
with `Metadata-Flavor: Google` -> `{"access_token", "expires_in", "token_type": "Bearer"}`).
That GET is all `google.auth.default()` ends up doing there, but through google-auth's requests
transport, whose import (requests, google.oauth2.service_account -> cryptography) costs ~65 ms of
a cold start that Slack is waiting on; http.client is already loaded by the framework. It mirrors
google-auth's compute_engine credentials: same URL, header and host override (GCE_METADATA_HOST),
refreshed 3 min 45 s before expiry (google.auth._helpers.REFRESH_THRESHOLD); tests/e2e/test_gcp_token.py
checks both read the same token from the same fake metadata server.

Elsewhere (a laptop with `gcloud auth application-default login`), google-auth does it all.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable

DEFAULT_METADATA_HOST = "metadata.google.internal"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
REFRESH_MARGIN_S = 225.0
METADATA_TIMEOUT_S = 2.0  # a local server that answers in milliseconds; the ack has 3 s in all
CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"


class TokenUnavailable(Exception):
    """No token: `kind` says why (logged; never a token)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class NoToken:
    """An emulator on loopback (tests, local runs): no Google credentials, as AnonymousCredentials."""

    def headers(self) -> dict[str, str]:
        return {}

    def invalidate(self) -> None:
        pass


class MetadataServerToken:
    def __init__(self, host: str | None, *, timeout_s: float, clock: Callable[[], float] = time.monotonic):
        self._host = host or DEFAULT_METADATA_HOST
        self._timeout_s = timeout_s
        self._clock = clock
        self._lock = threading.Lock()  # three concurrent reads at cold start: one token fetch
        self._token: str | None = None
        self._refresh_at = 0.0

    def headers(self) -> dict[str, str]:
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._fetch()
            return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self) -> None:
        """Upstream answered 401: the next call fetches a fresh token."""
        with self._lock:
            self._token = None

    def _fetch(self) -> None:
        host, _, port = self._host.partition(":")
        conn = http.client.HTTPConnection(host, int(port) if port else None, timeout=self._timeout_s)
        try:
            conn.request("GET", TOKEN_PATH, headers={"Metadata-Flavor": "Google"})
            response = conn.getresponse()
            body = response.read()
        except OSError as exc:  # unreachable, refused, timed out
            raise TokenUnavailable(f"metadata server: {type(exc).__name__}") from None
        finally:
            conn.close()
        if response.status != 200:
            raise TokenUnavailable(f"metadata server: HTTP {response.status}")
        try:
            payload = json.loads(body)
            token, expires_in = str(payload["access_token"]), float(payload["expires_in"])
        except (ValueError, KeyError, TypeError):
            raise TokenUnavailable("metadata server: malformed token response") from None
        self._token = token
        self._refresh_at = self._clock() + max(0.0, expires_in - REFRESH_MARGIN_S)


class GoogleAuthToken:
    """Application Default Credentials through google-auth (off Cloud Run; heavier to import)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._credentials = None
        self._request = None

    def headers(self) -> dict[str, str]:
        with self._lock:
            try:
                if self._credentials is None:
                    import google.auth
                    from google.auth.transport.requests import Request

                    self._credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
                    self._request = Request()
                if not self._credentials.valid:
                    self._credentials.refresh(self._request)
            except Exception as exc:  # DefaultCredentialsError, RefreshError, TransportError
                raise TokenUnavailable(type(exc).__name__) from None
            headers: dict[str, str] = {}
            self._credentials.apply(headers)  # the token, and x-goog-user-project for user credentials
            return headers

    def invalidate(self) -> None:
        with self._lock:
            if self._credentials is not None:
                self._credentials.token = None  # `valid` is False until the next refresh


_shared: dict[str, MetadataServerToken] = {}
_shared_lock = threading.Lock()


def token_source(endpoint: str | None):
    """The metadata server on Cloud Run (one token per instance, shared by every API); none for an
    emulator on loopback (`http://`: tests and local runs); google-auth anywhere else."""
    from teambot.core.settings import metadata_server_host

    host = metadata_server_host()
    if host:
        with _shared_lock:
            if host not in _shared:
                _shared[host] = MetadataServerToken(host, timeout_s=METADATA_TIMEOUT_S)
            return _shared[host]
    if endpoint and endpoint.startswith("http://"):
        return NoToken()
    return GoogleAuthToken()
