"""A fake Cloud Tasks REST API: createTask with named-task dedup (409 ALREADY_EXISTS), then
dispatch like the real queue: POST to the task URL with an OIDC token, retrying non-2xx.
`targets` rewrites the host so tasks can land on several function instances (round-robin)."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from .google_oidc import FakeGoogleOIDC
from .server import LoopbackServer


class FakeCloudTasks(LoopbackServer):
    def __init__(self, oidc: FakeGoogleOIDC, *, max_attempts=3, deliver_times=1):
        self.oidc = oidc
        self.max_attempts = max_attempts
        self.deliver_times = deliver_times  # >1 simulates at-least-once double delivery
        self.targets: list[str] = []
        self.names: set[str] = set()
        self.created: list[dict] = []
        self.deliveries: list[dict] = []
        self.down = False
        self.dispatch = True  # False: accept tasks but never deliver them (ack-path tests)
        # Whether the front end strips /NAME from https://REGION-PROJECT.cloudfunctions.net/NAME/...
        # is not documented first-hand for gen2: tests run both ways.
        self.strip_function_name = True
        self._next = 0
        self.lock = threading.Lock()

    def handle(self, req, verb):
        if self.down:
            return req.send_json(503, {"error": {"code": 503, "status": "UNAVAILABLE", "message": "down"}})
        task = json.loads(req.body())["task"]
        with self.lock:
            if task["name"] in self.names:
                return req.send_json(409, {"error": {"code": 409, "status": "ALREADY_EXISTS", "message": "task exists"}})
            self.names.add(task["name"])
            self.created.append(task)
        if self.dispatch:
            threading.Thread(target=self._dispatch, args=(task,), daemon=True).start()
        req.send_json(200, {"name": task["name"]})

    def _target_url(self, url: str, function_url: str) -> str:
        if not self.targets:
            return url
        with self.lock:
            base = self.targets[self._next % len(self.targets)]
            self._next += 1
        # Like Google's front end for https://REGION-PROJECT.cloudfunctions.net/NAME/...: the
        # function sees the path after its name.
        if self.strip_function_name and url.startswith(function_url):
            path = url[len(function_url):]
        else:
            path = urlsplit(url).path
        return base + (path or "/")

    def _dispatch(self, task):
        http = task["httpRequest"]
        oidc = http["oidcToken"]
        for copy in range(self.deliver_times):
            for attempt in range(self.max_attempts):
                token = self.oidc.token(audience=oidc["audience"], email=oidc["serviceAccountEmail"])
                request = urllib.request.Request(
                    self._target_url(http["url"], oidc["audience"]), data=base64.b64decode(http["body"]), method="POST",
                    headers={**http.get("headers", {}), "Authorization": f"Bearer {token}",
                             "X-CloudTasks-TaskRetryCount": str(attempt + copy),
                             "X-CloudTasks-TaskName": task["name"].rsplit("/", 1)[-1]})
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status = response.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                except OSError:
                    status = 0
                self.deliveries.append({"name": task["name"], "status": status, "attempt": attempt})
                if 200 <= status < 300:
                    break
                time.sleep(0.2 * (attempt + 1))
