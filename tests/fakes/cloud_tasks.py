"""A fake Cloud Tasks REST API: createTask with named-task dedup (409 ALREADY_EXISTS), then
dispatch like the real queue: POST to the task URL with an OIDC token, retrying a non-2xx answer
or no answer at all (a reset connection from an instance that died) with backoff, up to
max_attempts. A task's `scheduleTime` (RFC 3339 UTC, Task reference:
https://cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues.tasks#Task, "the time
when the task is scheduled to be attempted") holds its first attempt until then; a malformed one is
refused with 400 INVALID_ARGUMENT, as the API refuses a Timestamp it cannot parse.
`targets` rewrites the host so tasks can land on several function instances (round-robin)."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from urllib.parse import urlsplit

from .google_oidc import FakeGoogleOIDC
from .server import LoopbackServer


class FakeCloudTasks(LoopbackServer):
    def __init__(self, oidc: FakeGoogleOIDC, *, max_attempts=3, deliver_times=1, min_backoff_s=0.1, max_backoff_s=2.0):
        self.oidc = oidc
        self.max_attempts = max_attempts  # RetryConfig.max_attempts: attempts in all, the first included
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s  # infra uses 5 s / 60 s
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
        if "scheduleTime" in task and not _rfc3339_utc(task["scheduleTime"]):
            return req.send_json(
                400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "Invalid value at 'task.schedule_time'"}}
            )
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
            path = url[len(function_url) :]
        else:
            path = urlsplit(url).path
        return base + (path or "/")

    def _dispatch(self, task):
        if task.get("scheduleTime"):
            time.sleep(max(0.0, _rfc3339_utc(task["scheduleTime"]) - time.time()))
        http = task["httpRequest"]
        oidc = http["oidcToken"]
        for copy in range(self.deliver_times):
            for attempt in range(self.max_attempts):
                token = self.oidc.token(audience=oidc["audience"], email=oidc["serviceAccountEmail"])
                request = urllib.request.Request(
                    self._target_url(http["url"], oidc["audience"]),
                    data=base64.b64decode(http["body"]),
                    method="POST",
                    headers={
                        **http.get("headers", {}),
                        "Authorization": f"Bearer {token}",
                        "X-CloudTasks-TaskRetryCount": str(attempt + copy),
                        "X-CloudTasks-TaskName": task["name"].rsplit("/", 1)[-1],
                    },
                )
                retry_after, at = None, time.time()
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status = response.status
                except urllib.error.HTTPError as exc:
                    status, retry_after = exc.code, exc.headers.get("Retry-After")
                except OSError:  # reset or refused (the instance died), or no answer by the deadline
                    status = 0
                self.deliveries.append(
                    {
                        "name": task["name"],
                        "status": status,
                        "attempt": attempt,
                        "at": at,
                        "target": urlsplit(request.full_url).netloc,
                    }
                )
                # Cloud Tasks HttpRequest reference: a 2xx acknowledges the task; "if any other HTTP
                # response code is returned or no response is received, the task will be retried"
                # per the queue's RetryConfig (max_attempts in all; the wait starts at min_backoff
                # and doubles, up to max_backoff; a Retry-After header is considered).
                if 200 <= status < 300 or attempt + 1 == self.max_attempts:
                    break
                wait = min(self.max_backoff_s, self.min_backoff_s * 2**attempt)
                if retry_after and retry_after.isdigit():
                    wait = max(wait, min(float(retry_after), self.max_backoff_s))
                time.sleep(wait)


def _rfc3339_utc(value) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp in UTC ("Z"), as protobuf's JSON Timestamp; else None."""
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None
