"""Reads one secret version: `GET https://secretmanager.googleapis.com/v1/{name}:access`.

Why not google-cloud-secret-manager here: its import (google.api_core, proto, grpc) took ~125 ms
of the first ack after a cold start, and the function only ever needs this one GET (google_rest.py,
with the token from gcp_token.py). The official client stays in infra/rotate.py, which adds,
lists and disables versions.

REST reference: https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access
(response `{"name", "payload": {"data": base64, "dataCrc32c"}}`; errors `{"error": {"code", "status"}}`).
"""

from __future__ import annotations

import base64
import binascii
import json

from teambot.gcp.rest import CallFailed, GoogleRest, google_status

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
        self._api = GoogleRest(endpoint or DEFAULT_ENDPOINT, token, timeout_s=timeout_s)

    def access(self, name: str) -> str:
        """The value of version `name` (projects/P/secrets/S/versions/V), stripped of whitespace."""
        try:
            status, body = self._api.call("GET", f"/v1/{name}:access")
        except CallFailed as exc:
            raise SecretReadError(exc.kind) from None
        if status != 200:
            raise SecretReadError(google_status(body), status)
        try:
            return base64.b64decode(json.loads(body)["payload"]["data"], validate=True).decode("utf-8").strip()
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise SecretReadError("malformed response", status) from None
