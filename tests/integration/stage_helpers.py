"""Shared pieces of the tests/integration/test_stage_*.py files: the real teambot App (or its parts)
built from an environment that points at the loopback fakes, and a Flask test client that calls
`App.route` exactly as function/main.py's `slack_bot` entry point does. Nothing here starts a
process; requests are signed with tests.harness.sign, as Slack signs them."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import flask

from teambot.ack.ingress import Ingress
from teambot.ack.signing import SlackRequestVerifier
from teambot.app import App
from teambot.core.jobs import Job
from teambot.core.settings import Settings
from tests.harness import SIGNING_SECRET, bot_env, sign

AUDIENCE = "https://europe-west1-p.cloudfunctions.net/slack-bot"
INVOKER = "slack-bot-tasks@p.iam.gserviceaccount.com"
QUEUE = "projects/p/locations/europe-west1/queues/slack-bot"
METHODS = ["GET", "POST", "PUT", "DELETE"]


def make_app(slack, model, **extra) -> App:
    return App(Settings.from_env(bot_env(slack, model, **extra)))


class RecordingApp(App):
    """The real App, except that a job handed to the worker is recorded, not run."""

    def __init__(self, settings: Settings):
        self.ran: list[tuple[Job, int]] = []
        super().__init__(settings)

    def run_job(self, job: Job, *, delivery: int = 0) -> None:
        self.ran.append((job, delivery))


class SpyHandoff:
    """Wraps a real hand-off: every enqueue, its job and whether it was accepted, in order."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: list[tuple[Job, bool]] = []

    def enqueue(self, job: Job, *, delay_s: float = 0.0) -> bool:
        accepted = self.inner.enqueue(job, delay_s=delay_s)
        self.calls.append((job, accepted))
        return accepted

    @property
    def accepted(self) -> list[Job]:
        return [job for job, ok in self.calls if ok]


def spy_on_ingress(app: App) -> SpyHandoff:
    """Give `app` a new Ingress (same settings, verifier and registry) whose hand-off is spied on."""
    spy = SpyHandoff(app.handoff)
    app.ingress = Ingress(app.settings, SlackRequestVerifier(app.secrets), spy, app.ingress.registry)
    return spy


def entry_point(app: App) -> flask.Flask:
    """A Flask app whose every path goes to `app.route(request)`, as function/main.py's does."""
    web = flask.Flask("teambot-stage-test")

    @web.route("/", defaults={"path": ""}, methods=METHODS)
    @web.route("/<path:path>", methods=METHODS)
    def slack_bot(path):
        return app.route(flask.request)

    return web


class Client:
    """Slack's and Cloud Tasks' side of the HTTP contract, against a Flask test client."""

    def __init__(self, app: App):
        self.app = app
        self.http = entry_point(app).test_client()

    def request(self, method: str, path: str, **kwargs):
        """One request; the response is closed, as the WSGI server closes it once sent (which is
        when the in-process hand-off starts its job)."""
        response = self.http.open(path, method=method, buffered=True, **kwargs)
        response.close()
        return response

    def post_json(self, payload, *, secret=SIGNING_SECRET, retry: int | None = None, timestamp=None, path="/"):
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **sign(body, secret, timestamp)}
        if retry:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
        return self.request("POST", path, data=body, headers=headers)

    def post_form(self, payload: dict, *, secret=SIGNING_SECRET, path="/"):
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret)}
        return self.request("POST", path, data=body, headers=headers)

    def post_task(self, job: Job | bytes, *, token: str | None, retry_count: int = 0, path="/tasks/answer"):
        body = job if isinstance(job, bytes) else job.to_json()
        headers = {"Content-Type": "application/json", "X-CloudTasks-TaskRetryCount": str(retry_count)}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.request("POST", path, data=body, headers=headers)


def log_records(captured: str) -> list[dict]:
    """The JSON log lines (teambot.core.logs) among captured stdout."""
    out = []
    for line in captured.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


# -- Cloud Tasks mode (test_stage_handoff.py, test_stage_task_route.py) --------------------------
def tasks_env(tasks, oidc, **extra) -> dict:
    """The settings of Cloud Tasks mode, as tests/e2e/test_cloud_tasks_e2e.py gives its functions:
    the queue, the invoker and audience, and the Cloud Tasks and OIDC certs fakes' URLs."""
    env = {"TASKS_QUEUE": QUEUE, "TASKS_INVOKER_SA": INVOKER, "FUNCTION_URL": AUDIENCE, "OIDC_CERTS_URL": oidc.certs_url}
    return env | ({"CLOUD_TASKS_ENDPOINT": tasks.url} if tasks is not None else {}) | extra


class Served:
    """`app` behind a real HTTP server on 127.0.0.1 in a thread (werkzeug's, as a local run's), for
    what must reach it over the network: the Cloud Tasks fake's deliveries."""

    def __init__(self, app: App):
        import threading

        from werkzeug.serving import make_server

        self.server = make_server("127.0.0.1", 0, entry_point(app), threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "Served":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
