"""Stage: hand-off (teambot/ack/handoff.py), ingress's step 3: the job leaves the request.

  * InProcessHandoff (no TASKS_QUEUE): the job starts on the worker pool once the response is
    closed; a delayed job waits on a timer (replaced here by a fake one, so no test waits on the
    clock); a job that fails does not touch the ack, nor the pool's next jobs.
  * CloudTasksHandoff (TASKS_QUEUE set), against the Cloud Tasks fake: the task it creates (name,
    dispatch deadline, URL, OIDC token, body, scheduleTime), the queue's own dedup across
    instances, and what Slack gets when Cloud Tasks refuses or cannot be reached (503, logged, and
    the retry goes through). Then the whole loop: the fake delivers the task over HTTP to the App
    served in a thread, with a real OIDC token, and redelivers when the task route answers 503.

The real App (teambot/app.py) routes each signed request through a Flask test client, as
function/main.py's entry point does; the worker is replaced by a recorder (RecordingApp). Started
in this process: the Slack, OpenAI, Cloud Tasks, Google OIDC certs and metadata server loopback
fakes, and (for the deliveries) a werkzeug server on 127.0.0.1 in a thread."""

from __future__ import annotations

import base64
import json
import threading
import time
from datetime import datetime

import pytest

from teambot.ack import handoff as handoff_module
from teambot.core.errors import SecretUnavailable
from teambot.core.jobs import Job
from teambot.core.settings import Settings
from tests.fakes.cloud_tasks import FakeCloudTasks
from tests.fakes.google_oidc import FakeGoogleOIDC
from tests.fakes.metadata_server import FakeMetadataServer
from tests.harness import bot_env, dm, free_port, sign, wait_for
from tests.integration.stage_helpers import (
    AUDIENCE,
    INVOKER,
    QUEUE,
    Client,
    RecordingApp,
    Served,
    log_records,
    spy_on_ingress,
    tasks_env,
)


def answer_job(ts: str, text: str = "hello") -> Job:
    return Job(kind="answer", team="T1", channel="D1", user="U1", message_ts=ts, text=text, channel_type="im")


@pytest.fixture(autouse=True)
def _not_on_cloud_run(monkeypatch):
    # K_SERVICE in the test runner's environment would send token reads to a metadata server.
    monkeypatch.delenv("K_SERVICE", raising=False)
    monkeypatch.delenv("GCE_METADATA_HOST", raising=False)


@pytest.fixture(scope="module")
def oidc():
    # One per module: its RSA key takes ~0.1 s to make, and tests only read its tokens and certs.
    fake = FakeGoogleOIDC().start()
    yield fake
    fake.stop()


class Queue(FakeCloudTasks):
    """The Cloud Tasks fake, which can also refuse createTask as Cloud Tasks does without the
    enqueuer role, and keeps each createTask's Authorization (the caller's access token)."""

    refusing = False

    def __init__(self, oidc, **kwargs):
        super().__init__(oidc, **kwargs)
        self.authorizations: list[str | None] = []

    def handle(self, req, verb):
        self.authorizations.append(req.headers.get("Authorization"))
        if self.refusing:
            error = {"code": 403, "status": "PERMISSION_DENIED", "message": "cloudtasks.tasks.create denied"}
            return req.send_json(403, {"error": error})
        return super().handle(req, verb)


@pytest.fixture
def tasks(oidc):
    # Backoff in tens of ms: a redelivery test waits for the fake's retry, not for 5 s.
    fake = Queue(oidc, min_backoff_s=0.01, max_backoff_s=0.05)
    fake.dispatch = False  # deliveries only where a test serves the App (Served)
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def make(slack, model):
    def build(app_class=RecordingApp, **env):
        app = app_class(Settings.from_env(bot_env(slack, model, **env)))
        return app, spy_on_ingress(app), Client(app)

    return build


# -- in process ------------------------------------------------------------------------------
class ClosedAtRun(RecordingApp):
    """Records, with each job, whether the test had closed the response when the job started."""

    def __init__(self, settings):
        self.closed = threading.Event()
        self.closed_at_run: list[bool] = []
        super().__init__(settings)

    def run_job(self, job, *, delivery=0):
        self.closed_at_run.append(self.closed.is_set())
        super().run_job(job, delivery=delivery)


def test_in_process_job_starts_only_once_the_response_is_closed(make):
    app, spy, client = make(ClosedAtRun)
    assert isinstance(app.handoff, handoff_module.InProcessHandoff)
    body = json.dumps(dm("hello", "1700000001.000100")).encode()
    headers = {"Content-Type": "application/json", **sign(body)}
    response = client.http.post("/", data=body, headers=headers, buffered=False)
    # Not closed yet: the WSGI server is still sending it; the job has not been submitted at all.
    assert response.status_code == 200 and [ok for _, ok in spy.calls] == [True]
    assert app.ran == []
    app.closed.set()
    response.close()
    [(job, delivery)] = wait_for(lambda: app.ran)
    assert (job.message_ts, delivery) == ("1700000001.000100", 0)
    assert app.closed_at_run == [True]


def test_in_process_job_outside_a_request_starts_at_once(make):
    app, _, _ = make()
    job = answer_job("1700000001.000200")
    assert app.handoff.enqueue(job) is True  # no request context: nothing to wait for
    assert wait_for(lambda: app.ran) == [(job, 0)]
    assert app.handoff.enqueue(job) is False  # the same key again: already taken
    assert app.ran == [(job, 0)]


class FakeTimer:
    """threading.Timer, started by the test: a delayed job fires when the test says so."""

    made: list[FakeTimer] = []

    def __init__(self, interval, function):
        self.interval, self.function = interval, function
        self.daemon = False
        self.started = False
        FakeTimer.made.append(self)

    def start(self):
        self.started = True

    def fire(self):
        self.function()


def test_a_delayed_job_waits_for_its_timer_then_runs_on_the_pool(make, monkeypatch):
    monkeypatch.setattr(FakeTimer, "made", [])
    monkeypatch.setattr(handoff_module.threading, "Timer", FakeTimer)
    app, _, _ = make()
    job = answer_job("1700000001.000300")
    assert app.schedule(job, 42.5) is True  # the worker's own later job (an approval's expiry)
    [timer] = FakeTimer.made
    assert (timer.interval, timer.started, timer.daemon) == (42.5, True, True)
    assert app.ran == []  # nothing before the timer fires
    assert app.schedule(job, 42.5) is False and len(FakeTimer.made) == 1  # scheduled once
    timer.fire()
    assert wait_for(lambda: app.ran) == [(job, 0)]


class FailsFirst(RecordingApp):
    """A worker whose first job raises."""

    failed = False

    def run_job(self, job, *, delivery=0):
        if not self.failed:
            self.failed = True
            raise RuntimeError("the job's own failure")
        super().run_job(job, delivery=delivery)


def test_a_failing_in_process_job_does_not_touch_the_ack_or_the_next_job(make):
    app, spy, client = make(FailsFirst)
    assert client.post_json(dm("first", "1700000001.000400")).status_code == 200
    wait_for(lambda: app.failed)
    # The pool survives its job's exception: the next message is answered 200 and its job runs.
    assert client.post_json(dm("second", "1700000001.000500")).status_code == 200
    [(job, _)] = wait_for(lambda: app.ran)
    assert job.message_ts == "1700000001.000500"
    assert [ok for _, ok in spy.calls] == [True, True]


class RaisesOutside(RecordingApp):
    """A worker that raises outside Worker.run's own handling (building the worker, say)."""

    def run_job(self, job, *, delivery=0):
        super().run_job(job, delivery=delivery)
        raise RuntimeError("outside the worker's handling")


def test_what_escapes_an_in_process_job_is_logged_once_with_its_trace(make, capsys):
    app, _, client = make(RaisesOutside)
    assert client.post_json(dm("hello", "1700000001.000600")).status_code == 200
    wait_for(lambda: app.ran)
    records = wait_for(lambda: [r for r in log_records(capsys.readouterr().out) if r.get("message") == "job_failed"])
    [failed] = records
    assert failed["severity"] == "ERROR" and failed["error"] == "RuntimeError" and "outside the worker" in failed["stack_trace"]


class SecretsDown(RecordingApp):
    """A worker whose secrets are unreadable for its first `down` deliveries."""

    down = 1

    def run_job(self, job, *, delivery=0):
        super().run_job(job, delivery=delivery)
        if delivery < self.down:
            raise SecretUnavailable("SLACK_BOT_TOKEN", "PERMISSION_DENIED")


@pytest.mark.parametrize("down", [1, len(handoff_module.LOCAL_RETRY_DELAYS_S) + 1], ids=["back-soon", "down-for-good"])
def test_an_in_process_job_that_met_a_secret_outage_runs_again_later_as_cloud_tasks_would(make, monkeypatch, capsys, down):
    monkeypatch.setattr(FakeTimer, "made", [])
    monkeypatch.setattr(handoff_module.threading, "Timer", FakeTimer)
    app, _, _ = make(SecretsDown)
    app.down = down
    job = answer_job("1700000001.000700")
    assert app.handoff.enqueue(job) is True
    for attempt, delay in enumerate(handoff_module.LOCAL_RETRY_DELAYS_S[:down], start=1):
        wait_for(lambda attempt=attempt: len(FakeTimer.made) == attempt)  # the retry is timed, not run at once
        assert FakeTimer.made[-1].interval == delay and len(app.ran) == attempt
        FakeTimer.made[-1].fire()
        wait_for(lambda attempt=attempt: len(app.ran) == attempt + 1)
    deliveries = [delivery for _, delivery in app.ran]
    assert deliveries == list(range(min(down, len(handoff_module.LOCAL_RETRY_DELAYS_S)) + 1))

    def dropped():
        return [r for r in log_records(capsys.readouterr().out) if r.get("message") == "job_dropped"]

    if down > len(handoff_module.LOCAL_RETRY_DELAYS_S):  # given up, said once, no trace
        # Logged by the pool thread once the last run has raised: app.ran counts a run when it starts.
        given_up = wait_for(dropped)
        assert [(r["severity"], r["deliveries"]) for r in given_up] == [("ERROR", down)] and "stack_trace" not in given_up[0]
    else:
        assert dropped() == []


# -- Cloud Tasks: the task created -----------------------------------------------------------
def test_a_dm_becomes_one_cloud_task_with_the_job_and_the_invokers_token(make, tasks, oidc):
    app, spy, client = make(**tasks_env(tasks, oidc))
    assert isinstance(app.handoff, handoff_module.CloudTasksHandoff)
    response = client.post_json(dm("hello there", "1700000002.000100"))
    assert (response.status_code, response.data) == (200, b"")
    [(job, accepted)] = spy.calls
    assert accepted
    [task] = tasks.created
    assert task["name"] == f"{QUEUE}/tasks/{job.task_id()}"  # a hash of the dedup key: the queue dedups
    assert len(job.task_id()) == 40 and job.task_id() in task["name"]
    assert task["dispatchDeadline"] == "600s"
    assert "scheduleTime" not in task  # now, not later
    http = task["httpRequest"]
    assert (http["httpMethod"], http["url"]) == ("POST", AUDIENCE + "/tasks/answer")
    assert http["headers"] == {"Content-Type": "application/json"}
    assert http["oidcToken"] == {"serviceAccountEmail": INVOKER, "audience": AUDIENCE}
    body = base64.b64decode(http["body"])
    assert body == job.to_json() and Job.from_json(body) == job
    assert (job.kind, job.message_ts, job.text) == ("answer", "1700000002.000100", "hello there")
    # Nothing runs in this process: the queue will deliver it to /tasks/answer.
    assert app.ran == []


def test_the_dispatch_deadline_follows_its_setting(make, tasks, oidc):
    app, _, client = make(**tasks_env(tasks, oidc, TASKS_DISPATCH_DEADLINE_SECONDS="900"))
    assert client.post_json(dm("hello", "1700000002.000200")).status_code == 200
    assert [t["dispatchDeadline"] for t in tasks.created] == ["900s"]


def test_a_delayed_job_is_a_task_with_its_schedule_time(make, tasks, oidc):
    app, _, _ = make(**tasks_env(tasks, oidc))
    job = answer_job("1700000002.000300")
    before = time.time()
    assert app.schedule(job, 90) is True
    after = time.time()
    [task] = tasks.created  # the fake refuses a scheduleTime it cannot parse (400)
    at = datetime.fromisoformat(task["scheduleTime"]).timestamp()
    assert task["scheduleTime"].endswith("Z") and before + 90 <= at <= after + 90
    assert base64.b64decode(task["httpRequest"]["body"]) == job.to_json()
    assert app.schedule(job, 90) is False and len(tasks.created) == 1


def test_slacks_retry_is_refused_in_memory_and_another_instance_by_the_queue(make, tasks, oidc, capsys):
    a, spy_a, client_a = make(**tasks_env(tasks, oidc))
    b, spy_b, client_b = make(**tasks_env(tasks, oidc))  # another instance: its memory is empty
    assert client_a.post_json(dm("hello", "1700000002.000400")).status_code == 200
    assert client_a.post_json(dm("hello", "1700000002.000400"), retry=1).status_code == 200
    assert client_b.post_json(dm("hello", "1700000002.000400"), retry=2).status_code == 200
    assert [ok for _, ok in spy_a.calls] == [True, False]
    assert [ok for _, ok in spy_b.calls] == [False]  # 409 ALREADY_EXISTS from the queue
    assert len(tasks.created) == 1
    logged = [r["message"] for r in log_records(capsys.readouterr().out) if r.get("message") in ("enqueued", "duplicate")]
    assert logged == ["enqueued", "duplicate", "duplicate"]


def test_on_cloud_run_the_task_is_created_with_the_metadata_servers_token(make, tasks, oidc, monkeypatch, request):
    metadata = FakeMetadataServer().start()
    request.addfinalizer(metadata.stop)
    monkeypatch.setenv("K_SERVICE", "slack-bot")
    monkeypatch.setenv("GCE_METADATA_HOST", metadata.host)
    app, _, client = make(**tasks_env(tasks, oidc, K_SERVICE="slack-bot"))
    assert client.post_json(dm("hello", "1700000002.000500")).status_code == 200
    assert len(tasks.created) == 1
    assert tasks.authorizations == [f"Bearer {metadata.issued[0]}"]  # what Cloud Tasks checks


# -- Cloud Tasks refuses, or cannot be reached ------------------------------------------------
@pytest.mark.parametrize(
    "outage", ["queue down", "permission denied", "unreachable", "no token"], ids=lambda s: s.replace(" ", "-")
)
def test_when_the_task_cannot_be_created_slack_gets_503_and_its_retry_goes_through(
    make, tasks, oidc, capsys, monkeypatch, request, outage
):
    env = tasks_env(tasks, oidc)
    if outage == "queue down":
        tasks.down = True
    elif outage == "permission denied":
        tasks.refusing = True
    elif outage == "unreachable":
        env["CLOUD_TASKS_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    elif outage == "no token":
        metadata = FakeMetadataServer().start()
        request.addfinalizer(metadata.stop)
        metadata.down = True
        monkeypatch.setenv("K_SERVICE", "slack-bot")
        monkeypatch.setenv("GCE_METADATA_HOST", metadata.host)
    app, spy, client = make(**env)

    response = client.post_json(dm("hello", "1700000003.000100"))
    assert response.status_code == 503 and "X-Slack-No-Retry" not in response.headers  # Slack retries
    assert tasks.created == [] and app.ran == []
    records = log_records(capsys.readouterr().out)
    [failed] = [r for r in records if r.get("message") == "enqueue_failed"]
    assert failed["severity"] == "ERROR" and failed["kind"] == "answer"
    expected = {
        "queue down": {"status": 503, "error": "UNAVAILABLE", "queue": QUEUE},
        "permission denied": {"status": 403, "error": "PERMISSION_DENIED", "queue": QUEUE},
        "unreachable": {"error": "ConnectionRefusedError", "queue": QUEUE},
        "no token": {"error": "metadata server: HTTP 503", "queue": QUEUE},
    }[outage]
    assert {k: failed.get(k) for k in expected} == expected
    assert any(r.get("message") == "unavailable" and r.get("status") == 503 for r in records)

    # The outage ends; Slack's retry of the same message is not taken for a duplicate.
    if outage == "unreachable":
        return  # this App's endpoint stays wrong: the key's release is seen in the other cases
    tasks.down = tasks.refusing = False
    if outage == "no token":
        metadata.down = False
    assert client.post_json(dm("hello", "1700000003.000100"), retry=1).status_code == 200
    assert len(tasks.created) == 1 and [ok for _, ok in spy.calls] == [True]


# -- Cloud Tasks: the whole loop -------------------------------------------------------------
def test_the_queue_delivers_the_task_to_the_task_route_which_runs_it_once(make, tasks, oidc):
    app, _, client = make(**tasks_env(tasks, oidc))
    with Served(app) as served:
        tasks.targets.append(served.url)
        tasks.dispatch = True
        assert client.post_json(dm("hello", "1700000004.000100")).status_code == 200
        [(job, delivery)] = wait_for(lambda: app.ran)
        wait_for(lambda: tasks.deliveries)
    assert (job.message_ts, job.text, delivery) == ("1700000004.000100", "hello", 0)
    assert [(d["status"], d["attempt"]) for d in tasks.deliveries] == [(200, 0)]


def test_a_task_delivered_twice_runs_twice_with_its_delivery_count(make, tasks, oidc):
    """At-least-once: the route runs every delivery, with its count, and the handlers tell a
    redelivery (delivery > 0) from a first attempt."""
    tasks.deliver_times = 2
    app, _, client = make(**tasks_env(tasks, oidc))
    with Served(app) as served:
        tasks.targets.append(served.url)
        tasks.dispatch = True
        assert client.post_json(dm("hello", "1700000004.000200")).status_code == 200
        wait_for(lambda: len(tasks.deliveries) == 2)
    assert [delivery for _, delivery in app.ran] == [0, 1]
    assert {job.message_ts for job, _ in app.ran} == {"1700000004.000200"}


class SecretFirst(RecordingApp):
    """A worker whose first attempt finds a secret unreadable (SecretUnavailable: 503)."""

    refused = False

    def run_job(self, job, *, delivery=0):
        if not self.refused:
            self.refused = True
            raise SecretUnavailable("OPENAI_API_KEY", "PERMISSION_DENIED")
        super().run_job(job, delivery=delivery)


def test_a_503_from_the_task_route_is_delivered_again_with_the_next_retry_count(make, tasks, oidc):
    app, _, client = make(SecretFirst, **tasks_env(tasks, oidc))
    with Served(app) as served:
        tasks.targets.append(served.url)
        tasks.dispatch = True
        assert client.post_json(dm("hello", "1700000004.000300")).status_code == 200
        wait_for(lambda: len(tasks.deliveries) == 2)
    assert [(d["status"], d["attempt"]) for d in tasks.deliveries] == [(503, 0), (200, 1)]
    [(job, delivery)] = app.ran
    assert (job.message_ts, delivery) == ("1700000004.000300", 1)
