"""Stage: the task route, POST /tasks/answer (teambot/app.py `App._task`, its gate
teambot/ack/task_auth.py): only Cloud Tasks, with a Google-signed OIDC token for the invoker
service account and the function's URL as audience, runs a job, once per delivery, with the
delivery count Cloud Tasks sends (X-CloudTasks-TaskRetryCount). Anything else is refused before
the job is read, and a body that is not a job is refused before it runs.

The real App routes each request through a Flask test client, as function/main.py's entry point
does; tokens are minted by FakeGoogleOIDC and verified by the real google-auth against the fake's
certs endpoint. The worker is a recorder (RecordingApp) except in the last tests, which run the
real worker once against the Slack and OpenAI fakes. Started in this process: the Slack, OpenAI
and Google OIDC certs loopback fakes."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import pytest

from teambot.ack import task_auth
from teambot.core.errors import SecretUnavailable
from teambot.core.jobs import Job
from teambot.core.settings import Settings
from tests.e2e.test_answer_e2e import finished
from tests.fakes.google_oidc import FakeGoogleOIDC
from tests.harness import bot_env, free_port, wait_for
from tests.integration.stage_helpers import AUDIENCE, INVOKER, Client, RecordingApp, log_records, make_app, tasks_env

JOB = Job(kind="answer", team="T1", channel="D1", user="U1", message_ts="1700000005.000100", text="hi", channel_type="im")


@pytest.fixture(scope="module")
def oidc():
    # One per module: its RSA key takes ~0.1 s to make, and tests only read its tokens and certs.
    fake = FakeGoogleOIDC().start()
    yield fake
    fake.stop()


@pytest.fixture
def make(slack, model, oidc):
    def build(app_class=RecordingApp, **env):
        # No TASKS_QUEUE: the route needs only FUNCTION_URL and TASKS_INVOKER_SA (and the certs).
        app = app_class(Settings.from_env(bot_env(slack, model, **(tasks_env(None, oidc, TASKS_QUEUE=None) | env))))
        return app, Client(app)

    return build


def valid(oidc) -> str:
    return oidc.token(audience=AUDIENCE, email=INVOKER)


def test_a_valid_task_runs_its_job_once_with_its_delivery_count(make, oidc, slack, model):
    app, client = make()
    response = client.post_task(JOB, token=valid(oidc))
    assert (response.status_code, response.get_json()) == (200, {"ok": True})
    assert app.ran == [(JOB, 0)]  # run in the request: Cloud Tasks' attempt lasts as long as the job
    again = replace(JOB, message_ts="1700000005.000200")
    assert client.post_task(again, token=valid(oidc), retry_count=3).status_code == 200
    assert app.ran == [(JOB, 0), (again, 3)]
    assert slack.calls == [] and model.requests == []  # the recorder stands in for the worker


def test_the_route_works_under_the_function_name_too(make, oidc):
    app, client = make(K_SERVICE="slack-bot")
    assert client.post_task(JOB, token=valid(oidc), path="/slack-bot/tasks/answer").status_code == 200
    assert client.post_task(JOB, token=valid(oidc), path="/other/tasks/answer").status_code == 404
    assert app.ran == [(JOB, 0)]


@pytest.fixture(scope="module")
def impostor():
    """Another key under the same key id (never started: only its tokens are used)."""
    return FakeGoogleOIDC()


def _tampered(oidc) -> str:
    """A valid token whose claims were changed after signing (another email, same signature)."""
    import base64

    header, claims, signature = valid(oidc).split(".")
    data = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    data["email"] = "attacker@evil.iam.gserviceaccount.com"
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    "authorization, status",
    [
        (lambda o: None, 401),
        (lambda o: f"Basic {valid(o)}", 401),
        (lambda o: "Bearer not.a.jwt", 401),
        (lambda o: f"Bearer {o.token(audience='https://elsewhere.example', email=INVOKER)}", 401),
        (lambda o: f"Bearer {o.token(audience=AUDIENCE + '/tasks/answer', email=INVOKER)}", 401),
        (lambda o: f"Bearer {o.token(audience=AUDIENCE, email='attacker@evil.iam.gserviceaccount.com')}", 403),
        (lambda o: f"Bearer {o.token(audience=AUDIENCE, email=INVOKER, verified=False)}", 403),
        (lambda o: f"Bearer {o.token(audience=AUDIENCE, email=INVOKER, expires_in=-3000)}", 401),
        (lambda o: f"Bearer {o.token(audience=AUDIENCE, email=INVOKER, issuer='https://evil.example')}", 401),
        (lambda o: "impostor", 401),
        (lambda o: f"Bearer {_tampered(o)}", 401),
    ],
    ids=[
        "missing",
        "not-bearer",
        "garbage",
        "wrong-audience",
        "audience-with-path",
        "wrong-email",
        "unverified-email",
        "expired",
        "wrong-issuer",
        "bad-signature",
        "tampered-claims",
    ],
)
def test_a_task_without_the_invokers_valid_token_is_refused_and_nothing_runs(make, oidc, impostor, capsys, authorization, status):
    app, client = make()
    value = authorization(oidc)
    if value == "impostor":  # signed by another key: only the signature is wrong
        value = f"Bearer {impostor.token(audience=AUDIENCE, email=INVOKER)}"
    headers = {"Content-Type": "application/json", "X-CloudTasks-TaskRetryCount": "0"}
    if value is not None:
        headers["Authorization"] = value
    response = client.request("POST", "/tasks/answer", data=JOB.to_json(), headers=headers)
    assert response.status_code == status
    assert app.ran == []
    [refused] = [r for r in log_records(capsys.readouterr().out) if r.get("message") == "refused"]
    assert (refused["status"], refused["path"]) == (status, "/tasks/answer")
    # The sanity check of the check: the same request with a valid token runs.
    assert client.post_task(JOB, token=valid(oidc)).status_code == 200 and app.ran == [(JOB, 0)]


@pytest.mark.parametrize("unset", ["FUNCTION_URL", "TASKS_INVOKER_SA"])
def test_without_an_audience_or_invoker_the_route_is_closed(make, oidc, unset):
    app, client = make(**{unset: None})
    response = client.post_task(JOB, token=valid(oidc))
    assert (response.status_code, response.data) == (403, b"task route disabled: FUNCTION_URL / TASKS_INVOKER_SA not set")
    assert app.ran == []


@pytest.mark.parametrize(
    "body, status",
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (b'{"kind": "rm -rf"}', 400),
        (json.dumps({**json.loads(JOB.to_json()), "message_ts": ""}).encode(), 400),
        (json.dumps({**json.loads(JOB.to_json()), "target": "x"}).encode(), 400),
        (json.dumps({**json.loads(JOB.to_json()), "kind": "no_such_kind"}).encode(), 400),
        (b" " * (1024 * 1024 + 1), 413),
    ],
    ids=["not-json", "not-an-object", "no-fields", "empty-message-ts", "target-not-object", "unknown-kind", "too-big"],
)
def test_a_body_that_is_not_a_job_is_refused_and_nothing_runs(make, oidc, body, status):
    app, client = make()
    response = client.post_task(body, token=valid(oidc))
    assert response.status_code == status
    assert app.ran == []


def test_the_token_is_checked_before_the_body_is_read(make, oidc):
    app, client = make()
    assert client.post_task(b"{not json", token=None).status_code == 401
    assert client.request("GET", "/tasks/answer").status_code == 405
    assert app.ran == []


def test_the_certs_are_fetched_once_then_again_after_their_ttl(make, oidc, monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(task_auth, "time", SimpleNamespace(monotonic=lambda: now[0]))  # the cache's clock only
    app, client = make()
    fetched = oidc.cert_fetches  # the fake is shared by this module's tests
    for _ in range(3):
        assert client.post_task(JOB, token=valid(oidc)).status_code == 200
    assert oidc.cert_fetches - fetched == 1  # no round trip to Google per task
    now[0] += task_auth.CERTS_TTL_S + 1  # Google rotates its keys: the cache ends
    assert client.post_task(JOB, token=valid(oidc)).status_code == 200
    assert oidc.cert_fetches - fetched == 2 and len(app.ran) == 4


@pytest.mark.parametrize("certs", ["answering-404", "unreachable"])
def test_when_googles_certs_cannot_be_fetched_the_task_gets_503_and_one_error_line(make, oidc, capsys, certs):
    # No verdict on the token either way: not a 401 (a forged token, to the operator), but an
    # outage that Cloud Tasks retries.
    url = oidc.certs_url + "/nowhere" if certs == "answering-404" else f"http://127.0.0.1:{free_port()}/certs"
    app, client = make(OIDC_CERTS_URL=url)
    response = client.post_task(JOB, token=valid(oidc))
    assert response.status_code == 503 and "X-Slack-No-Retry" not in response.headers
    assert app.ran == []
    records = log_records(capsys.readouterr().out)
    [line] = [r for r in records if r.get("message") in ("unavailable", "refused", "unhandled")]
    assert (line["message"], line["severity"], line["error"]) == ("unavailable", "ERROR", "CertsUnavailable")
    assert "stack_trace" not in line  # an outage: one line, no trace


def test_the_bearer_scheme_is_case_insensitive(make, oidc):
    app, client = make()
    headers = {"Content-Type": "application/json", "Authorization": f"bearer {valid(oidc)}"}
    assert client.request("POST", "/tasks/answer", data=JOB.to_json(), headers=headers).status_code == 200
    assert app.ran == [(JOB, 0)]


@pytest.mark.parametrize("count", ["one", "-1", "1.5"])
def test_a_retry_count_that_is_not_a_count_is_a_400_and_nothing_runs(make, oidc, count):
    app, client = make()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {valid(oidc)}", "X-CloudTasks-TaskRetryCount": count}
    response = client.request("POST", "/tasks/answer", data=JOB.to_json(), headers=headers)
    assert (response.status_code, response.data) == (400, b"X-CloudTasks-TaskRetryCount is not a count")
    assert app.ran == []


class Failing(RecordingApp):
    """A worker that fails with `error` (set by the test)."""

    error: Exception | None = None

    def run_job(self, job, *, delivery=0):
        raise self.error


@pytest.mark.parametrize(
    "error, status, logged",
    [
        (SecretUnavailable("OPENAI_API_KEY", "PERMISSION_DENIED"), 503, "unavailable"),
        (RuntimeError("a bug"), 500, "unhandled"),
    ],
    ids=["secret-unavailable", "unexpected"],
)
def test_a_job_that_fails_answers_5xx_so_cloud_tasks_delivers_it_again(make, oidc, capsys, error, status, logged):
    app, client = make(Failing)
    app.error = error
    response = client.post_task(JOB, token=valid(oidc))
    assert response.status_code == status and "X-Slack-No-Retry" not in response.headers
    assert b"a bug" not in response.data  # never the details
    assert any(r.get("message") == logged for r in log_records(capsys.readouterr().out))


# -- the real worker behind the route --------------------------------------------------------
def test_a_redelivered_task_whose_answer_is_there_is_not_answered_again(slack, model, oidc, capsys):
    """The real worker once, through the route: the first delivery answers; a redelivery (retry
    count 1, as after an attempt whose 200 was lost) finds the answer and writes nothing."""
    app = make_app(slack, model, **tasks_env(None, oidc, TASKS_QUEUE=None))
    client = Client(app)
    ts = slack.add_message("D1", "hello")
    job = replace(JOB, message_ts=ts, text="hello")
    assert client.post_task(job, token=valid(oidc)).status_code == 200
    [answer] = wait_for(finished(slack, "D1", ts))
    assert answer["text"] == model.default_plan.text and len(model.requests) == 1
    assert client.post_task(job, token=valid(oidc), retry_count=1).status_code == 200
    assert len(model.requests) == 1 and len(slack.bot_messages("D1", ts)) == 1
    outcomes = [r.get("outcome") for r in log_records(capsys.readouterr().out) if r.get("message") == "answer"]
    assert outcomes[-1] == "duplicate_delivery"
