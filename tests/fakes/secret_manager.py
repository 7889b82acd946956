"""A fake Secret Manager REST API (v1): access (incl. `latest`), addVersion, list versions, disable.

Driven by the real google-cloud-secret-manager client with transport="rest" (infra/rotate.py) and
by the function's own REST reader (function/teambot/gcp/secret_rest.py). Routes and verbs follow
https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions
(`access` is a GET; the others POST/GET), errors Google's JSON shape {"error": {code, status, message}}."""

from __future__ import annotations

import base64
import json
import re
import threading
import time

from .server import LoopbackServer

ACCESS = re.compile(r"^/v1/(projects/[^/]+/secrets/[^/]+)/versions/([^/:]+):access$")
ADD = re.compile(r"^/v1/(projects/[^/]+/secrets/[^/]+):addVersion$")
LIST = re.compile(r"^/v1/(projects/[^/]+/secrets/[^/]+)/versions$")
DISABLE = re.compile(r"^/v1/(projects/[^/]+/secrets/[^/]+)/versions/(\d+):disable$")


def _error(code, status, message):
    return code, {"error": {"code": code, "status": status, "message": message}}


class FakeSecretManager(LoopbackServer):
    def __init__(self, project="p"):
        self.project = project
        self.secrets: dict[str, list[dict]] = {}  # secret name -> versions
        self.denied: set[str] = set()  # secrets the caller may not read
        self.down = False  # answer 503 to everything
        self.delay_s = 0.0  # a slow Secret Manager: each answer waits this long (bounded below)
        self.valid_tokens: set[str] | None = None  # when set, only `Authorization: Bearer <one of them>`
        self.access_count: dict[str, int] = {}
        # Set by a test: every answer waits for this event (at most 10 s); `waiting` counts the
        # requests held right now (how many reads are in flight at once, whatever the machine's speed).
        self.held: threading.Event | None = None
        self.waiting = 0
        self.lock = threading.Lock()

    def name(self, secret_id: str) -> str:
        return f"projects/{self.project}/secrets/{secret_id}"

    def ref(self, secret_id: str) -> str:
        return f"{self.name(secret_id)}/versions/latest"

    def set(self, secret_id: str, value: str) -> None:
        with self.lock:
            versions = self.secrets.setdefault(self.name(secret_id), [])
            versions.append({"number": len(versions) + 1, "value": value, "state": "ENABLED"})

    def _version(self, name, v):
        return {"name": f"{name}/versions/{v['number']}", "state": v["state"]}

    def handle(self, req, verb):
        path = req.path.split("?")[0]
        if self.delay_s:
            time.sleep(min(self.delay_s, 30.0))
        if (held := self.held) is not None:
            with self.lock:
                self.waiting += 1
            try:
                held.wait(10)
            finally:
                with self.lock:
                    self.waiting -= 1
        if (
            self.valid_tokens is not None
            and req.headers.get("Authorization", "").removeprefix("Bearer ") not in self.valid_tokens
        ):
            status, payload = _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        else:
            status, payload = self._route(verb, path, req.body() if verb == "POST" else b"")
        try:
            req.send_json(status, payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up first (a timeout test)
            pass

    def _route(self, verb, path, body):
        if self.down:
            return _error(503, "UNAVAILABLE", "service unavailable")
        with self.lock:
            if verb == "GET" and (m := ACCESS.match(path)):
                name, which = m.groups()
                self.access_count[name] = self.access_count.get(name, 0) + 1
                if name in self.denied:
                    return _error(403, "PERMISSION_DENIED", "Permission 'secretmanager.versions.access' denied")
                versions = self.secrets.get(name)
                if not versions:
                    return _error(404, "NOT_FOUND", f"Secret [{name}] not found or has no versions.")
                v = versions[-1] if which == "latest" else next((x for x in versions if str(x["number"]) == which), None)
                if v is None:
                    return _error(404, "NOT_FOUND", "version not found")
                if v["state"] != "ENABLED":
                    return _error(400, "FAILED_PRECONDITION", f"{name}/versions/{v['number']} is in DISABLED state.")
                data = base64.b64encode(v["value"].encode()).decode()
                return 200, {"name": f"{name}/versions/{v['number']}", "payload": {"data": data}}
            if verb == "POST" and (m := ADD.match(path)):
                name = m.group(1)
                if name not in self.secrets:
                    return _error(404, "NOT_FOUND", "secret not found")
                value = base64.b64decode(json.loads(body)["payload"]["data"]).decode()
                versions = self.secrets[name]
                versions.append({"number": len(versions) + 1, "value": value, "state": "ENABLED"})
                return 200, self._version(name, versions[-1])
            if verb == "GET" and (m := LIST.match(path)):
                name = m.group(1)
                versions = sorted(self.secrets.get(name, []), key=lambda v: -v["number"])
                return 200, {"versions": [self._version(name, v) for v in versions], "totalSize": len(versions)}
            if verb == "POST" and (m := DISABLE.match(path)):
                name, number = m.groups()
                for v in self.secrets.get(name, []):
                    if str(v["number"]) == number:
                        v["state"] = "DISABLED"
                        return 200, self._version(name, v)
                return _error(404, "NOT_FOUND", "version not found")
        return _error(404, "NOT_FOUND", f"no route {verb} {path}")
