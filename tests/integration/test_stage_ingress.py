"""Stage: ingress (teambot/ack/ingress.py), the URL Slack calls: verify -> parse -> dedup -> enqueue
-> 200. The real App (teambot/app.py) routes each signed request, through a Flask test client as
function/main.py's entry point does; its in-process hand-off is wrapped to see every enqueue, and
the worker is replaced by a recorder (RecordingApp), so nothing runs past the hand-off. Started in
this process: the Slack and OpenAI loopback fakes (only as URLs the settings point at)."""

from __future__ import annotations

import json

import pytest

from teambot.core.settings import Settings
from tests.harness import bot_env, dm, event_envelope, shortcut, sign, wait_for
from tests.integration.stage_helpers import Client, RecordingApp, spy_on_ingress


@pytest.fixture
def make(slack, model, monkeypatch):
    monkeypatch.delenv("GCE_METADATA_HOST", raising=False)

    def build(**env):
        app = RecordingApp(Settings.from_env(bot_env(slack, model, **env)))
        return app, spy_on_ingress(app), Client(app)

    return build


def test_a_signed_dm_is_enqueued_once_and_answered_200(make):
    app, spy, client = make()
    response = client.post_json(dm("hello there", "1700000000.000100"))
    assert (response.status_code, response.data) == (200, b"")
    [(job, accepted)] = spy.calls
    assert accepted
    assert (job.kind, job.team, job.channel, job.user, job.message_ts, job.text) == (
        "answer",
        "T1",
        "D1",
        "U1",
        "1700000000.000100",
        "hello there",
    )
    # The in-process hand-off starts the job once the response is sent.
    assert wait_for(lambda: app.ran)[0][0] == job


def test_slacks_retry_of_the_same_message_is_refused_by_dedup(make):
    app, spy, client = make()
    assert client.post_json(dm("hello", "1700000000.000200")).status_code == 200
    retried = client.post_json(dm("hello", "1700000000.000200"), retry=1)
    assert retried.status_code == 200  # Slack must stop retrying
    assert [accepted for _, accepted in spy.calls] == [True, False]
    wait_for(lambda: app.ran)
    assert len(app.ran) == 1


@pytest.mark.parametrize(
    "secret, timestamp",
    [("not-the-signing-secret", None), (None, 1_000_000_000)],
    ids=["wrong-secret", "stale-timestamp"],
)
def test_a_bad_signature_is_401_and_nothing_is_enqueued(make, secret, timestamp):
    app, spy, client = make()
    kwargs = {"timestamp": timestamp} | ({"secret": secret} if secret else {})
    response = client.post_json(dm("hello", "1700000000.000300"), **kwargs)
    assert response.status_code == 401
    assert response.headers.get("X-Slack-No-Retry") == "1"
    assert spy.calls == [] and app.ran == []


def test_unsigned_request_is_401(make):
    app, spy, client = make()
    body = json.dumps(dm("hello", "1700000000.000400")).encode()
    response = client.request("POST", "/", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 401 and spy.calls == []


def test_transport_checks_in_order(make):
    app, spy, client = make()
    assert client.request("GET", "/").status_code == 405
    too_big = b"x" * (1024 * 1024 + 1)
    assert client.request("POST", "/", data=too_big, headers={"Content-Type": "application/json"}).status_code == 413
    for body, content_type, status in [
        (b"hello", "text/plain", 415),
        (b"{not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b"payload=%7Bbad", "application/x-www-form-urlencoded", 400),
        (b"nothing=here", "application/x-www-form-urlencoded", 400),
    ]:
        response = client.request("POST", "/", data=body, headers={"Content-Type": content_type, **sign(body)})
        assert response.status_code == status, (body, response.data)
    assert spy.calls == [] and app.ran == []


def test_url_verification_echoes_the_challenge_and_enqueues_nothing(make):
    app, spy, client = make()
    response = client.post_json({"type": "url_verification", "challenge": "abc123", "token": "x"})
    assert response.status_code == 200 and response.get_json() == {"challenge": "abc123"}
    assert spy.calls == []


def test_the_service_name_prefix_and_events_path_reach_ingress(make):
    app, spy, client = make(K_SERVICE="slack-bot")
    assert client.post_json(dm("a", "1700000000.000500"), path="/slack-bot/").status_code == 200
    assert client.post_json(dm("b", "1700000000.000600"), path="/slack/events").status_code == 200
    assert client.post_json(dm("c", "1700000000.000700"), path="/elsewhere").status_code == 404
    assert [job.message_ts for job in spy.accepted] == ["1700000000.000500", "1700000000.000600"]


def test_a_team_not_allowed_gets_200_and_nothing(make):
    app, spy, client = make(ALLOWED_TEAM_IDS="T9")
    envelope = event_envelope(
        {"type": "message", "channel_type": "im", "channel": "D1", "user": "U1", "text": "hi", "ts": "1.000001"}
    )
    assert client.post_json(envelope).status_code == 200
    assert spy.calls == []


def test_the_bots_own_message_and_other_envelopes_enqueue_nothing(make):
    app, spy, client = make()
    own = dm("my own answer", "1700000000.000800", user="UBOT", bot_id="BBOT")
    assert client.post_json(own).status_code == 200
    assert client.post_json({"type": "app_rate_limited", "team_id": "T1"}).status_code == 200
    assert spy.calls == []


def test_a_signed_shortcut_form_post_is_enqueued_with_its_kind(make, slack):
    app, spy, client = make()
    ts = slack.add_message("C1", "a long thread root")
    response = client.post_form(shortcut("summarize_thread", slack.messages[ts]))
    assert response.status_code == 200
    [job] = spy.accepted
    assert (job.kind, job.channel, job.message_ts, job.user) == ("summarize_thread", "C1", ts, "U1")
    assert client.post_form(shortcut("summarize_thread", slack.messages[ts])).status_code == 200
    assert [accepted for _, accepted in spy.calls] == [True, False]  # a double click: one job
