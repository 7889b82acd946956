"""The background re-read of a secret (time-to-live), through google-cloud-secret-manager.

Issue #10 keeps the official client where it is the right tool: rotation (infra/rotate.py) and
this background refresh, which no request waits on. What Slack waits on (the cold start, and a
forced re-read after a refusal) is one REST GET instead (secret_rest.py). The client is imported
on the first refresh, in the refresh thread; that import (google.api_core, proto, grpc) costs
~125 ms of CPU once per instance, after SECRET_TTL_SECONDS (10 min) of serving.
"""

from __future__ import annotations

import threading

from teambot.gcp.secret_rest import SecretReadError

# google.api_core exceptions carry the HTTP status as `.code` (grpc ones an enum with `.value`
# pairs; the REST transport raises the HTTP flavour).


class SecretManagerClientReader:
    def __init__(self, endpoint: str | None, *, timeout_s: float):
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._client = None
        self._lock = threading.Lock()

    def _secret_client(self):
        with self._lock:
            if self._client is None:
                from google.api_core.client_options import ClientOptions
                from google.cloud.secretmanager_v1 import SecretManagerServiceClient

                if self._endpoint and self._endpoint.startswith("http://"):  # an emulator on loopback
                    from google.auth.credentials import AnonymousCredentials

                    self._client = SecretManagerServiceClient(
                        transport="rest",
                        credentials=AnonymousCredentials(),
                        client_options=ClientOptions(api_endpoint=self._endpoint),
                    )
                else:
                    options = ClientOptions(api_endpoint=self._endpoint) if self._endpoint else None
                    self._client = SecretManagerServiceClient(transport="rest", client_options=options)
            return self._client

    def access(self, name: str) -> str:
        try:
            # No client-side retry loop (its default runs for a minute): the next get retries.
            response = self._secret_client().access_secret_version(name=name, retry=None, timeout=self._timeout_s)
            return response.payload.data.decode("utf-8").strip()
        except Exception as exc:  # many types; classify by HTTP status, never carry a value
            code = getattr(exc, "code", None)
            raise SecretReadError(type(exc).__name__, code if isinstance(code, int) else None) from None
