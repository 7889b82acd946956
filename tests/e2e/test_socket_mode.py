"""Local development: `make dev` over Socket Mode against a loopback WebSocket fake that speaks
Slack's protocol, and `make run` / `make dev` refusing to start without their variables."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.e2e.test_answer_e2e import finished
from tests.fakes.openai_api import Plan, words
from tests.fakes.socket_mode import FakeSocketMode
from tests.harness import REPO, bot_env, dm, feedback_click, free_port, wait_for

VENV = Path(sys.executable).parent.parent  # the interpreter running the tests: the project's venv
BASE_ENV = {
    "PATH": os.environ.get("PATH", ""),
    "HOME": os.environ.get("HOME", "/tmp"),
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONPATH": str(REPO / "function"),
}


APP_TOKEN = "xapp-1-test"


@pytest.fixture
def socket_fake(slack):
    fake = FakeSocketMode(close_after_s=0.5).start()
    slack.socket_mode = fake
    slack.valid_tokens.add(APP_TOKEN)  # any other token gets invalid_auth from apps.connections.open
    yield fake
    fake.stop()


class Dev:
    """`python -m teambot.dev.socket_mode` (what `make dev` runs) as a subprocess."""

    def __init__(self, env):
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "teambot.dev.socket_mode"],
            cwd=REPO,
            env={**BASE_ENV, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def records(self, message):
        import json

        out = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("message") == message:
                    out.append(record)
        return out

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@pytest.fixture
def dev(slack, model, socket_fake):
    started = Dev(bot_env(slack, model, SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN=APP_TOKEN))  # Socket Mode: no signing
    yield started
    if started.proc.poll() is None:
        started.stop()


def test_a_dm_is_answered_over_socket_mode_and_a_disconnect_reconnects(dev, slack, model, socket_fake):
    model.default_plan = Plan(tokens=words("Hello over a WebSocket."), delay_s=0.01)
    wait_for(lambda: socket_fake.connections and "connected to Slack over Socket Mode" in dev.output(), timeout=30)
    assert socket_fake.opened == 1

    ts = slack.add_message("D1", "hello over socket")
    envelope_id = socket_fake.send_event(dm("hello over socket", ts))
    wait_for(lambda: envelope_id in socket_fake.acks)
    assert socket_fake.acks[envelope_id] == {"envelope_id": envelope_id}
    msgs = wait_for(finished(slack, "D1", ts))
    assert [m["text"] for m in msgs] == [model.default_plan.text]

    # Slack redelivers the event (retry_attempt 1): acknowledged again, answered once (dedup).
    again = socket_fake.send_event(dm("hello over socket", ts), retry_attempt=1, retry_reason="timeout")
    wait_for(lambda: again in socket_fake.acks)
    # Bad input is acknowledged (a redelivery would be refused again) and does nothing.
    junk = socket_fake.send_event({"type": "event_callback", "team_id": "T1", "event": "not an object"})
    wait_for(lambda: junk in socket_fake.acks)
    assert len(model.requests) == 1

    # An interaction over the socket: a feedback click on the answer.
    click = socket_fake.send_interactive(feedback_click(msgs[0], "good"))
    wait_for(lambda: click in socket_fake.acks and slack.ephemerals)
    wait_for(lambda: dev.records("feedback"))

    # Slack asks for a reconnect: a new URL, a new connection, and events keep flowing on it.
    socket_fake.disconnect("refresh_requested")
    wait_for(lambda: len(socket_fake.connections) == 2 and socket_fake.opened == 2, timeout=30)
    wait_for(lambda: any(r["connections"] == 2 for r in dev.records("socket_mode_connected")), timeout=15)
    ts2 = slack.add_message("D2", "still there?")
    second = socket_fake.send_event(dm("still there?", ts2, channel="D2"))
    wait_for(lambda: second in socket_fake.acks, timeout=15)
    wait_for(finished(slack, "D2", ts2))
    assert len(model.requests) == 2
    assert dev.stop() == 0
    assert "hello over socket" not in dev.output()  # no message text in the logs


def test_a_bot_token_in_slack_app_token_is_refused_with_one_line(slack, model):
    result = subprocess.run(
        [sys.executable, "-m", "teambot.dev.socket_mode"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **BASE_ENV,
            "SLACK_APP_TOKEN": "xoxb-oops",
            "SLACK_BOT_TOKEN": "xoxb-test",
            "OPENAI_API_KEY": "sk-test",
            "SLACK_API_URL": slack.url + "/api/",
        },
    )
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "xapp-" in result.stderr


@pytest.mark.parametrize(
    "target,missing",
    [
        ("run", "SLACK_SIGNING_SECRET"),
        ("run", "OPENAI_API_KEY"),
        ("dev", "SLACK_APP_TOKEN"),
        ("dev", "SLACK_BOT_TOKEN"),
    ],
)
def test_make_run_and_dev_refuse_to_start_naming_the_missing_variable(target, missing):
    full = {"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-x", "OPENAI_API_KEY": "sk-x", "SLACK_APP_TOKEN": "xapp-x"}
    env = {**BASE_ENV, **{k: v for k, v in full.items() if k != missing}}
    env.pop("PYTHONPATH")  # teambot is installed (make install: -e .): a fresh clone needs nothing else
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", target, f"VENV={VENV}", f"PORT={free_port()}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode != 0
    ours = [line for line in result.stderr.splitlines() if line.startswith("teambot:")]
    assert len(ours) == 1 and ours[0].startswith(f"teambot: {missing} is not set"), result.stderr
    assert result.stdout == ""


def test_make_run_says_where_it_listens_and_serves(slack):
    port = free_port()
    env = {
        **BASE_ENV,
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "OPENAI_API_KEY": "sk-test",
        "SLACK_API_URL": slack.url + "/api/",
    }
    env.pop("PYTHONPATH")
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    proc = subprocess.Popen(
        ["make", "-s", "--no-print-directory", "run", f"VENV={VENV}", f"PORT={port}"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        line = f"teambot: listening on http://127.0.0.1:{port}/"
        wait_for(lambda: line in Path(log.name).read_text(), timeout=60)
        from tests.harness import BotProcess

        probe = BotProcess.__new__(BotProcess)
        probe.port = port
        r = probe.post_json({"type": "url_verification", "token": "x", "challenge": "c-1"})
        assert r.status == 200 and r.json() == {"challenge": "c-1"}
    finally:
        os.killpg(proc.pid, 15)  # make, python -m teambot.dev.local and its functions-framework child
        proc.wait(15)


def test_an_app_token_slack_refuses_stops_with_a_clear_line(slack, model, socket_fake):
    result = subprocess.run(
        [sys.executable, "-m", "teambot.dev.socket_mode"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **BASE_ENV,
            "SLACK_APP_TOKEN": "xapp-revoked",
            "SLACK_BOT_TOKEN": "xoxb-test",
            "OPENAI_API_KEY": "sk-test",
            "SLACK_API_URL": slack.url + "/api/",
        },
    )
    assert result.returncode == 1
    assert "teambot: Slack refused SLACK_APP_TOKEN (invalid_auth)" in result.stderr
    assert socket_fake.connections == []
