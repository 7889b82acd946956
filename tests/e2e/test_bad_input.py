"""Bad input at the public URL and the task route: each case gets its exact status, and none of
them reaches Slack or the model (checked once all cases have run, and per case)."""

import json
import time
from urllib.parse import urlencode

import pytest

from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.harness import BotProcess, bot_env, dm, settle, sign, wait_for

NOW = int(time.time())
EVENT = json.dumps(dm("hello", "1700000000.000100")).encode()


@pytest.fixture(scope="module")
def env():
    slack, model = FakeSlack().start(), FakeOpenAI().start()
    bot = BotProcess(
        bot_env(
            slack,
            model,
            OPENAI_MODEL=None,
            ALLOWED_TEAM_IDS="T1",
            FUNCTION_URL="https://r-p.cloudfunctions.net/slack-bot",
            TASKS_INVOKER_SA="i@p.iam.gserviceaccount.com",
        )
    ).start()
    yield bot, slack, model
    bot.stop()
    slack.stop()
    model.stop()


def signed(body: bytes, content_type="application/json", **sign_kwargs):
    return {"Content-Type": content_type, **sign(body, **sign_kwargs)}


def form(payload) -> bytes:
    return urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)}).encode()


def envelope(**changes) -> bytes:
    base = json.loads(EVENT)
    base.update(changes)
    return json.dumps(base).encode()


def event_with(**event_changes) -> bytes:
    base = json.loads(EVENT)
    base["event"].update(event_changes)
    return json.dumps(base).encode()


CASES = {
    # signature
    "no signature": ("POST", "/", EVENT, {"Content-Type": "application/json"}, 401),
    "wrong signature": (
        "POST",
        "/",
        EVENT,
        {"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(NOW), "X-Slack-Signature": "v0=" + "0" * 64},
        401,
    ),
    "signed with another secret": ("POST", "/", EVENT, signed(EVENT, secret="not-the-secret"), 401),
    "signature for a different body": ("POST", "/", EVENT, signed(EVENT + b" "), 401),
    # signed when sent (a callable), not at collection: the window is relative to the request
    "stale timestamp (6 min)": ("POST", "/", EVENT, lambda: signed(EVENT, timestamp=int(time.time()) - 360), 401),
    "future timestamp (6 min)": ("POST", "/", EVENT, lambda: signed(EVENT, timestamp=int(time.time()) + 360), 401),
    "replay outside the window": ("POST", "/", EVENT, signed(EVENT, timestamp=NOW - 3600), 401),
    "non-numeric timestamp": (
        "POST",
        "/",
        EVENT,
        {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": "soon",
            "X-Slack-Signature": sign(EVENT)["X-Slack-Signature"],
        },
        401,
    ),
    "signature without v0 prefix": (
        "POST",
        "/",
        EVENT,
        {**signed(EVENT), "X-Slack-Signature": sign(EVENT)["X-Slack-Signature"][3:]},
        401,
    ),
    # shape
    "malformed JSON": ("POST", "/", b'{"type": "event_callback", ', signed(b'{"type": "event_callback", '), 400),
    "JSON that is not an object": ("POST", "/", b"[1, 2]", signed(b"[1, 2]"), 400),
    # slack_sdk verifies the body as UTF-8 text (Slack only sends UTF-8): other bytes can't be verified
    "not UTF-8": ("POST", "/", b"\xff\xfe{}", signed(b"\xff\xfe{}"), 401),
    "event_callback without event": ("POST", "/", envelope(event=None), signed(envelope(event=None)), 400),
    "event is not an object": ("POST", "/", envelope(event="message"), signed(envelope(event="message")), 400),
    "event.user of the wrong type": ("POST", "/", event_with(user=42), signed(event_with(user=42)), 400),
    "event.ts missing": ("POST", "/", event_with(ts=None), signed(event_with(ts=None)), 400),
    "event.ts not a Slack timestamp": ("POST", "/", event_with(ts="yesterday"), signed(event_with(ts="yesterday")), 400),
    "event.text of the wrong type": ("POST", "/", event_with(text=["hi"]), signed(event_with(text=["hi"])), 400),
    "url_verification without challenge": (
        "POST",
        "/",
        b'{"type":"url_verification"}',
        signed(b'{"type":"url_verification"}'),
        400,
    ),
    "form without payload": ("POST", "/", b"command=%2Fx", signed(b"command=%2Fx", "application/x-www-form-urlencoded"), 400),
    "form payload not JSON": ("POST", "/", form("{nope"), signed(form("{nope"), "application/x-www-form-urlencoded"), 400),
    "shortcut without message": (
        "POST",
        "/",
        form(
            {
                "type": "message_action",
                "callback_id": "stop_generation",
                "team": {"id": "T1"},
                "channel": {"id": "C1"},
                "user": {"id": "U1"},
            }
        ),
        signed(
            form(
                {
                    "type": "message_action",
                    "callback_id": "stop_generation",
                    "team": {"id": "T1"},
                    "channel": {"id": "C1"},
                    "user": {"id": "U1"},
                }
            ),
            "application/x-www-form-urlencoded",
        ),
        400,
    ),
    # transport
    "body over 1 MiB": ("POST", "/", b"x" * (1024 * 1024 + 1), signed(b"x" * (1024 * 1024 + 1)), 413),
    "wrong content type": ("POST", "/", EVENT, signed(EVENT, "text/plain"), 415),
    "GET": ("GET", "/", b"", {}, 405),
    "PUT": ("PUT", "/", EVENT, signed(EVENT), 405),
    "DELETE": ("DELETE", "/", b"", {}, 405),
    "unknown path": ("POST", "/admin", EVENT, signed(EVENT), 404),
    # accepted, nothing done
    "unknown payload type": (
        "POST",
        "/",
        form({"type": "block_actions", "actions": []}),
        signed(form({"type": "block_actions", "actions": []}), "application/x-www-form-urlencoded"),
        200,
    ),
    "unknown shortcut": (
        "POST",
        "/",
        form({"type": "message_action", "callback_id": "nope"}),
        signed(form({"type": "message_action", "callback_id": "nope"}), "application/x-www-form-urlencoded"),
        200,
    ),
    # found by the long fuzz run: a non-string callback_id used to raise TypeError (500)
    "callback_id of the wrong type": (
        "POST",
        "/",
        form({"type": "message_action", "callback_id": []}),
        signed(form({"type": "message_action", "callback_id": []}), "application/x-www-form-urlencoded"),
        200,
    ),
    "envelope type of the wrong type": ("POST", "/", b'{"type": {"a": 1}}', signed(b'{"type": {"a": 1}}'), 200),
    "unknown envelope type": ("POST", "/", b'{"type":"app_rate_limited"}', signed(b'{"type":"app_rate_limited"}'), 200),
    "unknown event type": ("POST", "/", event_with(type="reaction_added"), signed(event_with(type="reaction_added")), 200),
    "message subtype": ("POST", "/", event_with(subtype="message_changed"), signed(event_with(subtype="message_changed")), 200),
    "team not allowed": ("POST", "/", envelope(team_id="T666"), signed(envelope(team_id="T666")), 200),
    # task route
    "task: no token": ("POST", "/tasks/answer", b"{}", {"Content-Type": "application/json"}, 401),
    "task: not a bearer token": ("POST", "/tasks/answer", b"{}", {"Authorization": "Basic abc"}, 401),
    "task: garbage token": ("POST", "/tasks/answer", b"{}", {"Authorization": "Bearer a.b.c"}, 401),
    "task: GET": ("GET", "/tasks/answer", b"", {}, 405),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_gets_its_status_and_nothing_else_happens(env, case):
    bot, slack, model = env
    method, path, body, headers, status = CASES[case]
    response = bot.request(method, path, body, headers() if callable(headers) else headers)
    assert response.status == status, response.body
    if status != 200:
        assert response.body in (b"",) or len(response.body) < 200  # a short reason, never a stack trace
        assert b"Traceback" not in response.body
    assert slack.calls == [] and model.requests == []
    assert bot.alive()


def test_nothing_reached_slack_or_the_model_after_all_cases(env):
    bot, slack, model = env
    settle()  # anything asynchronous would have started by now
    assert slack.calls == [] and model.requests == []
    assert not [r for r in bot.log_records() if r.get("severity") == "ERROR"]


def test_replay_inside_the_window_is_answered_once(start_bot, slack, model):
    bot = start_bot()
    ts = slack.add_message("D1", "hello")
    body = json.dumps(dm("hello", ts)).encode()
    headers = signed(body)
    for _ in range(5):  # a captured request replayed within 5 minutes: accepted, deduplicated
        assert bot.request("POST", "/", body, headers).status == 200
    wait_for(lambda: slack.bot_messages("D1", ts) and not slack.bot_messages("D1", ts)[-1].get("streaming"), timeout=20)
    settle()
    assert len(model.requests) == 1 and len(slack.bot_messages("D1", ts)) == 1
