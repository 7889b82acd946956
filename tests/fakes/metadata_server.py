"""A fake GCE/Cloud Run metadata server: the runtime service account's access token.

Follows https://cloud.google.com/run/docs/container-contract#metadata-server and
https://cloud.google.com/compute/docs/metadata/querying-metadata: every request needs
`Metadata-Flavor: Google` (403 otherwise) and the answer carries the same header;
`.../service-accounts/default/token` -> {"access_token", "expires_in", "token_type": "Bearer"};
`.../service-accounts/default/?recursive=true` -> the account's info (what google-auth's
compute_engine credentials read before the token). Point clients at it with GCE_METADATA_HOST.

It also answers `POST /token` as Google's OAuth 2.0 token endpoint does for a service account's
signed JWT (https://developers.google.com/identity/protocols/oauth2/service-account#httprest:
form body `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=...` ->
{"access_token", "expires_in", "token_type"}; the signature is not checked here), for the
Application Default Credentials path off Cloud Run (a key file whose token_uri is this fake).
"""

from __future__ import annotations

import threading

from .server import LoopbackServer

ACCOUNT = "/computeMetadata/v1/instance/service-accounts/default"
EMAIL = "runtime@p.iam.gserviceaccount.com"


class FakeMetadataServer(LoopbackServer):
    def __init__(self, expires_in: int = 3599):
        self.expires_in = expires_in
        self.issued: list[str] = []  # every token handed out, in order
        self.down = False
        self.requests: list[tuple[str, str | None]] = []  # (path, Metadata-Flavor header)
        self.lock = threading.Lock()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def token_requests(self) -> int:
        return sum(1 for path, _ in self.requests if path.startswith(ACCOUNT + "/token"))

    def _issue(self) -> dict:
        with self.lock:
            token = f"ya29.fake-{len(self.issued) + 1}"
            self.issued.append(token)
        return {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}

    def handle(self, req, verb):
        with self.lock:
            self.requests.append((req.path, req.headers.get("Metadata-Flavor")))
        if verb == "POST" and req.path == "/token":
            if b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" not in req.body():
                return req.send_json(400, {"error": "unsupported_grant_type"})
            return req.send_json(200, self._issue())
        headers = {"Metadata-Flavor": "Google"}
        if req.headers.get("Metadata-Flavor") != "Google":
            return req.send_json(403, {"error": "Missing Metadata-Flavor:Google header."}, headers)
        if self.down:
            return req.send_json(503, {"error": "unavailable"}, headers)
        path = req.path.split("?")[0]
        if verb == "GET" and path == ACCOUNT + "/token":
            return req.send_json(200, self._issue(), headers)
        if verb == "GET" and path == ACCOUNT + "/":
            return req.send_json(
                200,
                {"aliases": ["default"], "email": EMAIL, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
                headers,
            )
        return req.send_json(404, {"error": "not found"}, headers)
