"""A fake of the two Run Admin API v2 calls infra/run_invoker_check.py makes:
services.patch (returns a long-running Operation) and operations.get.
Follows cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch: the
service name is the path, `updateMask` lists the fields to change, unknown services are a 404
NOT_FOUND, and the Operation is polled until `done`."""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs, urlsplit

from .server import Handler, LoopbackServer


class _PatchHandler(Handler):
    def do_PATCH(self):
        self.dispatch("PATCH")


class FakeRunAdmin(LoopbackServer):
    handler = _PatchHandler  # the shared Handler has no PATCH; the patch call is this API's whole point

    def __init__(self, services: list[str], *, polls_before_done: int = 2):
        self.services = {name: {"name": name, "invokerIamDisabled": False} for name in services}
        self.polls_before_done = polls_before_done
        self.calls: list[tuple[str, str, dict]] = []  # (method, path, query)
        self._operations: dict[str, dict] = {}
        self.lock = threading.Lock()

    def handle(self, req, verb):
        parts = urlsplit(req.path)
        path = parts.path.removeprefix("/v2/")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.calls.append((verb, path, query))
            if verb == "PATCH":
                return self._patch(req, path, query)
            if verb == "GET" and path in self._operations:
                op = self._operations[path]
                op["polls"] += 1
                done = op["polls"] >= self.polls_before_done
                if done:
                    self.services[op["service"]]["invokerIamDisabled"] = op["value"]
                return req.send_json(
                    200, {"name": path, "done": done, **({"response": self.services[op["service"]]} if done else {})}
                )
        req.send_json(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": f"{path} not found"}})

    def _patch(self, req, path, query):
        if path not in self.services:
            return req.send_json(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": f"{path} not found"}})
        body = json.loads(req.body() or b"{}")
        if query.get("updateMask") != "invokerIamDisabled" or set(body) != {"invokerIamDisabled"}:
            return req.send_json(
                400,
                {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "updateMask must name exactly the fields sent"}},
            )
        location = path.split("/services/")[0]
        name = f"{location}/operations/op-{len(self._operations) + 1}"
        self._operations[name] = {"service": path, "value": body["invokerIamDisabled"], "polls": 0}
        req.send_json(200, {"name": name, "done": False})
