"""Cloud Tasks mode end to end: ingress enqueues over the Tasks REST API, the fake queue delivers
to POST /tasks/answer with a Google-style OIDC token, possibly on another instance."""

import json
import time

import pytest

from tests.e2e.test_answer_e2e import finished
from tests.fakes.cloud_tasks import FakeCloudTasks
from tests.fakes.google_oidc import FakeGoogleOIDC
from tests.fakes.metadata_server import FakeMetadataServer
from tests.fakes.openai_api import Plan
from tests.harness import dm, settle, shortcut, wait_for

AUDIENCE = "https://europe-west1-p.cloudfunctions.net/slack-bot"
INVOKER = "slack-bot-tasks@p.iam.gserviceaccount.com"
QUEUE = "projects/p/locations/europe-west1/queues/slack-bot"


@pytest.fixture
def oidc():
    fake = FakeGoogleOIDC().start()
    yield fake
    fake.stop()


@pytest.fixture
def tasks(oidc):
    fake = FakeCloudTasks(oidc).start()
    yield fake
    fake.stop()


@pytest.fixture
def start_tasks_bot(start_bot, tasks, oidc):
    def start(**env):
        bot = start_bot(
            TASKS_QUEUE=QUEUE,
            TASKS_INVOKER_SA=INVOKER,
            FUNCTION_URL=AUDIENCE,
            CLOUD_TASKS_ENDPOINT=tasks.url,
            OIDC_CERTS_URL=oidc.certs_url,
            **env,
        )
        tasks.targets.append(bot.url)
        return bot

    return start


def test_answer_flows_through_cloud_tasks_once(start_tasks_bot, tasks, slack, model):
    bot = start_tasks_bot()
    ts = slack.add_message("D1", "hello")
    assert bot.post_json(dm("hello", ts)).status == 200
    assert bot.post_json(dm("hello", ts), retry=1).status == 200
    msgs = wait_for(finished(slack, "D1", ts))
    assert [m["text"] for m in msgs] == [model.default_plan.text]
    task = tasks.created[0]
    assert len(tasks.created) == 1
    assert task["httpRequest"]["url"] == AUDIENCE + "/tasks/answer"
    assert task["httpRequest"]["oidcToken"] == {"serviceAccountEmail": INVOKER, "audience": AUDIENCE}
    assert task["name"].startswith(QUEUE + "/tasks/")
    assert wait_for(lambda: tasks.deliveries)[0]["status"] == 200


def test_duplicate_across_instances_is_refused_by_the_queue(start_tasks_bot, tasks, slack, model):
    a, b = start_tasks_bot(), start_tasks_bot()
    ts = slack.add_message("D1", "hello")
    assert a.post_json(dm("hello", ts)).status == 200
    assert b.post_json(dm("hello", ts), retry=1).status == 200  # other instance: its memory is empty
    wait_for(finished(slack, "D1", ts))
    settle()
    assert len(tasks.created) == 1 and len(model.requests) == 1
    assert any(r.get("message") == "duplicate" for r in b.log_records())


def test_task_delivered_twice_is_answered_once(start_tasks_bot, tasks, slack, model):
    tasks.deliver_times = 2
    bot = start_tasks_bot()
    ts = slack.add_message("D1", "hello")
    bot.post_json(dm("hello", ts))
    wait_for(lambda: len(tasks.deliveries) == 2, timeout=15)
    assert len(slack.bot_messages("D1", ts)) == 1 and len(model.requests) == 1
    assert any(r.get("outcome") == "duplicate_delivery" for r in bot.log_records())


def test_queue_down_means_503_then_the_slack_retry_is_answered(start_tasks_bot, tasks, slack, model):
    bot = start_tasks_bot()
    tasks.down = True
    ts = slack.add_message("D1", "hello")
    r = bot.post_json(dm("hello", ts))
    assert r.status == 503 and "X-Slack-No-Retry" not in r.headers
    tasks.down = False
    assert bot.post_json(dm("hello", ts), retry=1).status == 200
    assert [m["text"] for m in wait_for(finished(slack, "D1", ts))] == [model.default_plan.text]


def gave_up_at_its_first_failed_write(slack, ts, method) -> bool:
    """The writer's writes (`method`) to message `ts`: one failed (the stop had taken effect), and it
    was the last. That is how promptly a writer on another instance can stop: at its next write,
    which is an update interval away, or more in update mode (the write budget spaces chat.update
    by up to 1.8 s), so a wall-clock bound from the click would mostly measure the machine's load."""
    outcomes = [c.get("ok") for c in slack.calls if c["ts"] == ts and c["method"] == method and c["status"] == 200]
    return outcomes.count(False) == 1 and outcomes[-1] is False


@pytest.mark.parametrize("native", [True, False], ids=["native", "update"])
def test_stop_lands_on_another_instance_and_still_stops_the_model(start_tasks_bot, tasks, slack, model, native):
    if not native:
        slack.native_refusal = "channel_type_not_supported"
    a, b = start_tasks_bot(), start_tasks_bot()  # the queue alternates: answer on a, stop on b
    model.default_plan = Plan(tokens=[f" t{i}" for i in range(300)], delay_s=0.02)
    ts = slack.add_message("D1", "long story")
    a.post_json(dm("long story", ts))
    message = wait_for(lambda: next((m for m in slack.bot_messages("D1", ts) if "t1" in m["text"]), None))
    b.post_form(shortcut("stop_generation", dict(message)))
    wait_for(lambda: model.requests[0].hung_up or model.requests[0].finished, timeout=6)
    assert model.requests[0].hung_up and model.requests[0].tokens_sent < 300
    assert gave_up_at_its_first_failed_write(slack, message["ts"], "chat.appendStream" if native else "chat.update")
    visible = wait_for(lambda: [m for m in slack.bot_messages("D1", ts) if "Stopped" in m["text"]])
    assert len(visible) == 1 and visible[0]["text"].startswith(" t0")
    assert len(slack.bot_messages("D1", ts)) == 1  # no second copy left behind
    # b logs its stop after its own Slack writes return: the writer (a) may have seen them first
    assert wait_for(lambda: [r for r in b.log_records() if r.get("message") == "stop" and r.get("how") != "local"])
    assert wait_for(lambda: [e for e in slack.ephemerals if e["text"] == "Stopped."])


def _task_post(bot, token, body=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    job = (
        body
        if body is not None
        else json.dumps(
            {"kind": "answer", "team": "T1", "channel": "D1", "user": "U1", "message_ts": "1700000000.000900", "text": "hi"}
        ).encode()
    )
    return bot.request("POST", "/tasks/answer", job, headers)


@pytest.mark.parametrize(
    "make_token, status",
    [
        (lambda o: o.token(audience=AUDIENCE, email=INVOKER), 200),
        (lambda o: None, 401),
        (lambda o: o.token(audience="https://elsewhere.example", email=INVOKER), 401),
        (lambda o: o.token(audience=AUDIENCE, email="attacker@evil.iam.gserviceaccount.com"), 403),
        (lambda o: o.token(audience=AUDIENCE, email=INVOKER, verified=False), 403),
        (lambda o: o.token(audience=AUDIENCE, email=INVOKER, expires_in=-3000), 401),
        (lambda o: o.token(audience=AUDIENCE, email=INVOKER, issuer="https://evil.example"), 401),
        (lambda o: "not.a.jwt", 401),
    ],
    ids=["valid", "missing", "wrong-audience", "wrong-email", "unverified-email", "expired", "wrong-issuer", "garbage"],
)
def test_task_route_verifies_the_oidc_token(start_tasks_bot, oidc, slack, model, make_token, status):
    bot = start_tasks_bot()
    r = _task_post(bot, make_token(oidc))
    assert r.status == status
    if status != 200:
        settle()
        assert slack.calls == [] and model.requests == []
    else:
        assert model.requests and slack.count("chat.startStream") == 1


def test_task_route_rejects_a_body_that_is_not_a_job(start_tasks_bot, oidc, slack, model):
    bot = start_tasks_bot()
    r = _task_post(bot, oidc.token(audience=AUDIENCE, email=INVOKER), b'{"kind": "rm -rf"}')
    assert r.status == 400 and slack.calls == [] and model.requests == []


def test_certs_are_cached_between_tasks(start_tasks_bot, oidc, slack):
    bot = start_tasks_bot()
    for _ in range(3):
        assert _task_post(bot, oidc.token(audience=AUDIENCE, email=INVOKER)).status == 200
    assert oidc.cert_fetches == 1


@pytest.mark.parametrize("stripped", [True, False], ids=["front-end strips /NAME", "function sees /NAME"])
def test_routes_work_with_or_without_the_function_name_in_the_path(start_tasks_bot, tasks, slack, model, stripped, request):
    tasks.strip_function_name = stripped
    metadata = FakeMetadataServer().start()  # K_SERVICE means Cloud Run: tokens come from its metadata server
    request.addfinalizer(metadata.stop)
    bot = start_tasks_bot(K_SERVICE="slack-bot", GCE_METADATA_HOST=metadata.host)
    for i, path in enumerate(["/", "/slack/events", "/slack-bot", "/slack-bot/", "/slack-bot/slack/events"]):
        ts = slack.add_message("D1", f"question {i}")
        assert bot.post_json(dm(f"question {i}", ts), path=path).status == 200, path
        assert [m["text"] for m in wait_for(finished(slack, "D1", ts))] == [model.default_plan.text]
    # a delivery is recorded once the function has answered it, after the answer's last write
    delivered = wait_for(lambda: len(tasks.deliveries) == 5 and {d["status"] for d in tasks.deliveries})
    assert delivered == {200}
    assert bot.request("POST", "/slack-bot/nope").status == 404
    assert bot.request("POST", "/other-service/tasks/answer").status == 404


@pytest.mark.parametrize("pressed_on", ["live part", "earlier part"])
def test_stop_on_another_instance_is_told_apart_from_a_stream_slack_ended(start_tasks_bot, tasks, slack, model, pressed_on):
    """Streams live 3 s here and the writer renews them every 2 s: a stop on another instance
    while the current stream is alive still stops (it is not taken for an expiry), also when it
    is used on an earlier, already closed part of the answer."""
    slack.stream_lifetime_s = 3.0
    env = {"SLACK_STREAM_MAX_AGE_SECONDS": "2.0", "SLACK_UPDATE_INTERVAL_SECONDS": "0.2"}
    a, b = start_tasks_bot(**env), start_tasks_bot(**env)
    model.default_plan = Plan(tokens=[f" t{i}" for i in range(500)], delay_s=0.02)  # ~10 s
    ts = slack.add_message("D1", "long story")
    a.post_json(dm("long story", ts))

    def young_second_stream():  # press stop just after a renewal: the most time before the next one
        msgs = slack.bot_messages("D1", ts)
        live = [m for m in msgs[1:] if m.get("streaming") and time.monotonic() - m["stream_started"] < 0.3]
        return live[-1] if live else None

    message = wait_for(young_second_stream, timeout=10)
    on = message if pressed_on == "live part" else slack.bot_messages("D1", ts)[0]
    b.post_form(shortcut("stop_generation", dict(on)))
    wait_for(lambda: model.requests[0].hung_up or model.requests[0].finished, timeout=6)
    msgs = wait_for(finished(slack, "D1", ts))
    # The part stopped is the live one, or, when the writer renewed it first (a loaded machine), the
    # one it went on in: the stop follows the answer either way.
    stopped = msgs[-1]
    assert float(stopped["ts"]) >= float(message["ts"]) and stopped["text"].endswith("_⏹ Stopped._")
    assert model.requests[0].hung_up and gave_up_at_its_first_failed_write(slack, stopped["ts"], "chat.appendStream")
    assert [(m.get("metadata") or {}).get("event_payload", {}).get("state") for m in msgs[:-1]] == ["continued"] * (len(msgs) - 1)
    assert not any(m.get("expired") for m in msgs)
    record = wait_for(lambda: [r for r in a.log_records() if r.get("message") == "answer"])[0]
    assert record["outcome"] == "stopped_in_slack"
    settle(quiet=1.5)  # nothing is written after the stop
    assert len(slack.bot_messages("D1", ts)) == len(msgs)
