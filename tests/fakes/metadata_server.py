"""A fake GCE/Cloud Run metadata server: the runtime service account's access token.

Follows https://cloud.google.com/run/docs/container-contract#metadata-server and
https://cloud.google.com/compute/docs/metadata/querying-metadata: every request needs
`Metadata-Flavor: Google` (403 otherwise) and the answer carries the same header;
`.../service-accounts/default/token` -> {"access_token", "expires_in", "token_type": "Bearer"};
`.../service-accounts/default/?recursive=true` -> the account's info (what google-auth's
compute_engine credentials read before the token). Point clients at it with GCE_METADATA_HOST.
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

    def handle(self, req, verb):
        with self.lock:
            self.requests.append((req.path, req.headers.get("Metadata-Flavor")))
        headers = {"Metadata-Flavor": "Google"}
        if req.headers.get("Metadata-Flavor") != "Google":
            return req.send_json(403, {"error": "Missing Metadata-Flavor:Google header."}, headers)
        if self.down:
            return req.send_json(503, {"error": "unavailable"}, headers)
        path = req.path.split("?")[0]
        if verb == "GET" and path == ACCOUNT + "/token":
            with self.lock:
                token = f"ya29.fake-{len(self.issued) + 1}"
                self.issued.append(token)
            return req.send_json(200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}, headers)
        if verb == "GET" and path == ACCOUNT + "/":
            return req.send_json(200, {"aliases": ["default"], "email": EMAIL,
                                       "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}, headers)
        return req.send_json(404, {"error": "not found"}, headers)
