"""Step 3 of ingress: hand the job to the worker, so Slack gets its 200 in milliseconds.

Two implementations of one interface, `enqueue(job, delay_s=0) -> bool` (False = duplicate,
already taken; `delay_s` > 0: run it no sooner than that, e.g. an approval prompt's expiry):
  * CloudTasksHandoff (TASKS_QUEUE set): an HTTP task to POST {FUNCTION_URL}/tasks/answer with an
    OIDC token for TASKS_INVOKER_SA. The task name is a hash of the dedup key, so Cloud Tasks
    itself refuses a duplicate (409 ALREADY_EXISTS) across instances. It speaks the Cloud Tasks
    REST API (google_rest.py, token from gcp_token.py): the grpc Tasks client would add ~1 s of
    imports, and google-auth's requests transport ~65 ms, to a cold start that Slack is waiting on.
    A delay is the task's `scheduleTime`.
  * InProcessHandoff (local runs, tests): a worker thread, started once the response is sent (a
    delayed job: a timer thread, then the worker pool; it dies with the process, as local runs do).
    What Cloud Tasks does around a job, it does too: a job that met an outage (a secret
    unreadable) runs again later with the next delivery number, and nothing that escapes a job
    vanishes in the pool: it is logged once with its trace.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Protocol

from teambot.ack.dedup import RecentKeys
from teambot.core import logs
from teambot.core.errors import HandoffFailed, SecretUnavailable
from teambot.core.jobs import Job
from teambot.core.settings import DEFAULT_TASKS_DISPATCH_DEADLINE_S
from teambot.gcp.rest import CallFailed, GoogleRest, google_status
from teambot.gcp.token import token_source

TASK_ROUTE = "/tasks/answer"
# In process, after a job's secret outage: the delays before its next deliveries (the task route
# answers 503 instead, and the queue's own backoff retries it).
LOCAL_RETRY_DELAYS_S = (2.0, 10.0, 30.0)


class Handoff(Protocol):
    def enqueue(self, job: Job, *, delay_s: float = 0.0) -> bool: ...


def schedule_time(delay_s: float, now: float | None = None) -> str:
    """Cloud Tasks' Task.scheduleTime: an RFC 3339 UTC timestamp ("Z", up to nanoseconds)."""
    at = datetime.fromtimestamp((time.time() if now is None else now) + delay_s, tz=UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class InProcessHandoff:
    def __init__(self, run_job: Callable[..., None], *, max_workers: int = 64, seen: RecentKeys | None = None):
        self._run_job = run_job
        self._max_workers = max_workers
        self._seen = seen or RecentKeys()
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        # Created on first use, never at import: gunicorn forks after the module is loaded.
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="worker")
            return self._pool

    def enqueue(self, job: Job, *, delay_s: float = 0.0) -> bool:
        if not self._seen.add(job.dedup_key()):
            return False
        if delay_s > 0:
            self._later(job, delay_s, delivery=0)
            return True
        pool = self._executor()
        try:
            import flask

            # Start the job once the response has been sent, as a separate worker would.
            @flask.after_this_request
            def _start_after_response(response):
                response.call_on_close(lambda: pool.submit(self._run, job))
                return response

        except (ImportError, RuntimeError):  # not inside a request (bench, direct calls)
            pool.submit(self._run, job)
        return True

    def _later(self, job: Job, delay_s: float, *, delivery: int) -> None:
        pool = self._executor()
        timer = threading.Timer(delay_s, lambda: pool.submit(self._run, job, delivery))
        timer.daemon = True  # a local run's pending jobs end with it
        timer.start()

    def _run(self, job: Job, delivery: int = 0) -> None:
        """One job on the pool. The worker logs a job's own failures; what escapes it would vanish
        in the pool's future."""
        try:
            self._run_job(job, delivery=delivery)
        except SecretUnavailable as exc:  # already logged with its cause by the secret store
            if delivery < len(LOCAL_RETRY_DELAYS_S):
                self._later(job, LOCAL_RETRY_DELAYS_S[delivery], delivery=delivery + 1)
            else:
                logs.error("job_dropped", kind=job.kind, deliveries=delivery + 1, error=f"secret {exc.name} unavailable")
        except Exception as exc:  # never lost without a trace
            logs.exception("job_failed", exc, kind=job.kind, channel=job.channel)


class CloudTasksHandoff:
    def __init__(
        self,
        *,
        queue: str,
        function_url: str,
        invoker_sa: str,
        endpoint: str,
        timeout_s: float = 5.0,
        dispatch_deadline_s: int = DEFAULT_TASKS_DISPATCH_DEADLINE_S,
    ):
        self._queue = queue
        self._dispatch_deadline_s = dispatch_deadline_s
        self._function_url = function_url
        self._invoker_sa = invoker_sa
        self._endpoint = endpoint
        self._timeout_s = timeout_s
        self._seen = RecentKeys()
        # Built on first use: the token source (and google-auth, off Cloud Run) loads only then.
        self._api: GoogleRest | None = None
        self._lock = threading.Lock()

    def _tasks_api(self) -> GoogleRest:
        with self._lock:
            if self._api is None:
                token = token_source(self._endpoint)
                self._api = GoogleRest(self._endpoint, token, timeout_s=self._timeout_s)
            return self._api

    def task_body(self, job: Job, *, delay_s: float = 0.0) -> dict:
        body = {
            "task": {
                "name": f"{self._queue}/tasks/{job.task_id()}",
                # Always explicit (infra/config.py keeps it above the function timeout): past it,
                # Cloud Tasks counts the attempt as failed and may deliver the task again.
                # JSON Duration format, e.g. "600s".
                "dispatchDeadline": f"{self._dispatch_deadline_s}s",
                "httpRequest": {
                    "httpMethod": "POST",
                    "url": self._function_url + TASK_ROUTE,
                    "headers": {"Content-Type": "application/json"},
                    "body": base64.b64encode(job.to_json()).decode(),
                    "oidcToken": {"serviceAccountEmail": self._invoker_sa, "audience": self._function_url},
                },
            }
        }
        if delay_s > 0:  # "The time when the task is scheduled to be attempted" (Task.scheduleTime)
            body["task"]["scheduleTime"] = schedule_time(delay_s)
        return body

    def enqueue(self, job: Job, *, delay_s: float = 0.0) -> bool:
        key = job.dedup_key()
        if not self._seen.add(key):
            return False
        try:
            body = self.task_body(job, delay_s=delay_s)
            status, answer = self._tasks_api().call("POST", f"/v2/{self._queue}/tasks", body)
        except CallFailed as exc:  # no token, refused, timed out: expected outages, named
            self._seen.discard(key)  # let Slack's retry try again
            logs.error("enqueue_failed", error=exc.kind, queue=self._queue, kind=job.kind)
            raise HandoffFailed(f"Cloud Tasks unreachable ({exc.kind})") from None
        except Exception as exc:  # a bug: its trace, once
            self._seen.discard(key)
            logs.exception("enqueue_failed", exc, kind=job.kind)
            raise HandoffFailed("enqueue failed unexpectedly") from None
        if status == 409:  # ALREADY_EXISTS: another instance took this message
            return False
        if status >= 300:
            self._seen.discard(key)
            # The cause, named: PERMISSION_DENIED (enqueuer role / actAs), NOT_FOUND (queue), ...
            logs.error("enqueue_failed", status=status, error=google_status(answer), queue=self._queue, kind=job.kind)
            raise HandoffFailed(f"Cloud Tasks answered {status}")
        return True
