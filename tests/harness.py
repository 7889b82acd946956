"""Run the real function the way the README's local run does (functions-framework, gunicorn,
loopback port) and talk to it the way Slack and Cloud Tasks do: signed HTTP requests."""

from __future__ import annotations

import atexit
import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from tests.fakes.server import ACTIVITY

REPO = Path(__file__).resolve().parents[1]
SIGNING_SECRET = "test-signing-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign(body: bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def bot_env(slack, model, **extra) -> dict[str, str]:
    """The environment a test's function gets, wired to the loopback fakes: `extra` adds or
    overrides settings, and a None value removes one."""
    env = {
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "OPENAI_API_KEY": "sk-test",
        "SLACK_API_URL": slack.url + "/api/",
        "OPENAI_BASE_URL": model.url + "/v1",
        "OPENAI_MODEL": "test-model",
    }
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    for k in [k for k, v in extra.items() if v is None]:
        env.pop(k, None)
    return env


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, cap: float | None = None):
    """Wait until `predicate()` is truthy and return its value.

    `timeout` is how long the system under test may go without progress, not a wall-clock budget:
    progress is a request handled by a loopback fake (which wakes this wait at once) or a line
    logged by a running function. A machine loaded by other work is slow but makes progress, so
    the wait goes on; a stuck answer makes none and fails after `timeout`. `interval` is only the
    poll for what wakes no one (a log line, a process exiting). A hard `cap`, by default
    max(60, 6 x timeout) s, ends a wait on something that keeps busy without ever getting there."""
    started = time.monotonic()
    cap = started + (max(60.0, 6 * timeout) if cap is None else cap)
    progress = (ACTIVITY.count, _logged())
    idle_until = started + timeout
    while True:
        value = predicate()
        if value:
            return value
        now = time.monotonic()
        if (latest := (ACTIVITY.count, _logged())) != progress:
            progress, idle_until = latest, now + timeout
        if now >= idle_until or now >= cap:
            raise AssertionError(
                f"condition not met: no progress for {timeout}s"
                if now >= idle_until
                else f"condition not met in {cap - started:.0f}s"
            )
        ACTIVITY.wait_past(progress[0], min(interval, idle_until - now))


def settle(quiet: float = 0.5, cap: float = 30.0) -> None:
    """Wait until nothing has happened for `quiet` seconds: no loopback fake handled a request and
    no running function logged a line. For checks that something did *not* happen (no second
    answer, no model call): a fixed sleep ends too early on a loaded machine, where the work it
    should have let happen is merely slow; this waits as long as the system keeps busy."""
    deadline = time.monotonic() + cap
    progress = (ACTIVITY.count, _logged())
    quiet_until = time.monotonic() + quiet
    while (now := time.monotonic()) < quiet_until:
        if now >= deadline:
            raise AssertionError(f"never quiet for {quiet}s in {cap:.0f}s")
        ACTIVITY.wait_past(progress[0], min(0.05, quiet_until - now))
        if (latest := (ACTIVITY.count, _logged())) != progress:
            progress, quiet_until = latest, time.monotonic() + quiet


def _logged() -> int:
    """Bytes the running functions have logged (their log lines are progress too)."""
    total = 0
    for bot in list(_running):
        try:
            total += os.path.getsize(bot.log.name)
        except OSError:
            pass
    return total


def _descendants(pid: int) -> list[int]:
    """Child processes of `pid`, deepest first (read from /proc: this kernel has no
    /proc/PID/task/TID/children)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found[:0] = children
        frontier = children
    return found


def _listens(pids: list[int], port: int) -> bool:
    """Whether one of `pids` holds the listening socket on 127.0.0.1:`port` (/proc/net/tcp gives
    the socket's inode, /proc/PID/fd the process's sockets)."""
    want = f"0100007F:{port:04X}"
    inodes = {
        f[9]
        for f in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if f[1] == want and f[3] == "0A"
    }
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    return False


def process_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """A function process's environment: nothing of the test runner's but PATH and HOME."""
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "PYTHONUNBUFFERED": "1", **(extra or {})}


class _ForkServer:
    """The client of tests/zygote.py: one fork server per test process, started on first use."""

    def __init__(self):
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None

    def call(self, request: dict) -> dict:
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.zygote"],
                    env=process_env(),
                    cwd=REPO,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("tests.zygote (the fork server) ended; see the test's stderr")
            return json.loads(line)


_fork_server = _ForkServer()


class ForkedProcess:
    """What the harness uses of subprocess.Popen, for a function forked by tests/zygote.py (the
    child of the fork server, not of this process: its exit status is asked of the server)."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log_path: str):
        request = {"op": "spawn", "argv": argv, "env": env, "cwd": str(cwd), "log": log_path}
        self.pid = _fork_server.call(request)["pid"]
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = _fork_server.call({"op": "poll", "pid": self.pid})["returncode"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("functions_framework (forked)", timeout)
            time.sleep(0.005)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def real_cli_default() -> bool:
    """TEAMBOT_TEST_REAL_CLI=1: every function starts as a real `python -m functions_framework`."""
    return os.environ.get("TEAMBOT_TEST_REAL_CLI", "") not in ("", "0")


# Set for the duration of a test marked `real_cli` (tests/conftest.py).
real_cli_for_test = False


class Response:
    def __init__(self, status, body, headers):
        self.status, self.body, self.headers = status, body, headers

    def json(self):
        return json.loads(self.body)


_running: list["BotProcess"] = []
atexit.register(lambda: [bot.end() for bot in list(_running)])  # even when a test is cut short


class BotProcess:
    def __init__(self, env: dict[str, str], *, real_cli: bool | None = None):
        """`real_cli`: start a fresh `python -m functions_framework` (True) or fork it from the
        fork server, tests/zygote.py (False); by default the fork server, unless the test is marked
        `real_cli` or TEAMBOT_TEST_REAL_CLI=1."""
        self.env = env
        self.real_cli = real_cli if real_cli is not None else (real_cli_for_test or real_cli_default())
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)

    def start(self) -> "BotProcess":
        env = process_env(self.env)
        for _attempt in range(3):
            self.started_at = time.monotonic()
            if self.real_cli:
                self.proc = subprocess.Popen(
                    self._command(), env=env, cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
                )
            else:
                self.proc = ForkedProcess(self._command()[2:], env, REPO, self.log.name)
            _running.append(self)
            if self._wait_started():
                return self
            # free_port() released the port before the function bound it, and another test's server
            # took it: start again on a new port rather than talk to that server.
            self.stop()
            self.log.seek(0)
            self.log.truncate()
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
        raise RuntimeError("function could not get a free port")

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            "slack_bot",
            "--source",
            str(REPO / "function" / "main.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def _wait_started(self) -> bool:
        """True once this function listens on its port; False if another process holds the port."""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "Address already in use" in self.logs():
                    return False
                raise RuntimeError("function exited:\n" + self.logs())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.02)
                continue
            # something answers on the port: this function, or another process that took it first
            return _listens([self.proc.pid, *_descendants(self.proc.pid)], self.port)
        raise RuntimeError("function did not start")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self in _running:
            _running.remove(self)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def end(self) -> None:
        """End a test's function at once: SIGKILL to its process group (the arbiter and its worker,
        each function runs in its own session). A graceful stop takes 0.2-0.3 s of gunicorn's
        shutdown polling per function, 300 times a suite; and an instance still shutting down
        could call a fake on a port a later test's fake has taken."""
        if self in _running:
            _running.remove(self)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(5)

    def kill(self) -> None:
        """SIGKILL the function and its gunicorn worker, as Cloud Run ends an instance that runs out
        of memory: no shutdown, open connections reset. (Killing only the arbiter would let the
        worker finish its requests: gunicorn workers exit gracefully when their parent dies.) The
        whole process group, as end() does, at once: the worker can't outlive the arbiter by a
        scan of /proc. The function stays in `_running` for the test's teardown."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(5)

    def logs(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def log_records(self) -> list[dict]:
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    # -- requests ----------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.read(), dict(r.getheaders()))
        finally:
            conn.close()

    def post_json(self, payload, *, secret=SIGNING_SECRET, retry: int | None = None, timestamp=None, path="/") -> Response:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **sign(body, secret, timestamp)}
        if retry:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
        return self.request("POST", path, body, headers)

    def post_form(self, payload: dict, *, secret=SIGNING_SECRET) -> Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body, secret)}
        return self.request("POST", "/", body, headers)


# -- Slack payload builders ------------------------------------------------------------------
HIDDEN_KEYS = ("channel", "streaming", "deleted", "updates", "appends", "stream_started", "expired")  # the fake's own


def _visible(message: dict) -> dict:
    """A FakeSlack message as Slack shows it in a payload (without the fake's bookkeeping)."""
    return {k: v for k, v in message.items() if k not in HIDDEN_KEYS}


def event_envelope(event: dict, *, team="T1", bot_user_id="UBOT", event_id="Ev1") -> dict:
    return {
        "token": "legacy",
        "team_id": team,
        "api_app_id": "A1",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": {"team": team, **event},
        "authorizations": [{"team_id": team, "user_id": bot_user_id, "is_bot": True}],
    }


def dm(text: str, ts: str, *, user="U1", channel="D1", thread_ts=None, **extra) -> dict:
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        **extra,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event_envelope(event, event_id=f"Ev{ts}")


def mention(text: str, ts: str, *, user="U1", channel="C1", thread_ts=None) -> dict:
    event = {"type": "app_mention", "channel": channel, "user": user, "text": text, "ts": ts, "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event_envelope(event, event_id=f"Evm{ts}")


def shortcut(callback_id: str, message: dict, *, user="U1", team="T1") -> dict:
    return {
        "type": "message_action",
        "callback_id": callback_id,
        "trigger_id": "1.2.3",
        "response_url": "https://hooks.slack.invalid/x",
        "team": {"id": team, "domain": "t"},
        "channel": {"id": message["channel"], "name": "x"},
        "user": {"id": user, "name": "u"},
        "message_ts": message["ts"],
        "message": _visible(message),
    }


# -- AI app surface (assistant threads, feedback buttons) --------------------------------------
def assistant_thread_event(
    kind: str, thread_ts: str, *, channel="D1", user="U1", context_channel="C1", team="T1", event_ts=None
) -> dict:
    """assistant_thread_started / assistant_thread_context_changed, as the docs' examples
    (docs.slack.dev/reference/events/assistant_thread_started, ..._context_changed)."""
    event_ts = event_ts or f"{time.time():.6f}"
    event = {
        "type": kind,
        "event_ts": event_ts,
        "assistant_thread": {
            "user_id": user,
            "channel_id": channel,
            "thread_ts": thread_ts,
            "context": {"channel_id": context_channel, "team_id": team, "enterprise_id": None},
        },
    }
    envelope = event_envelope(event, team=team, event_id=f"Eva{event_ts}")
    envelope["event"].pop("team", None)  # these events carry no event.team
    return envelope


def block_actions(message: dict, action: dict, *, user="U1", team="T1") -> dict:
    """A block_actions payload for a click on `message` (a FakeSlack message), `action` being the
    clicked element as Slack reports it (https://docs.slack.dev/reference/interaction-payloads/block_actions-payload)."""
    return {
        "type": "block_actions",
        "team": {"id": team, "domain": "t"},
        "user": {"id": user, "name": "u", "team_id": team},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "1.2.3",
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": message["channel"],
            "is_ephemeral": False,
            "thread_ts": message.get("thread_ts"),
        },
        "channel": {"id": message["channel"], "name": "x"},
        "message": _visible(message),
        "actions": [action],
    }


def feedback_click(message: dict, rating: str, *, user="U1", team="T1", action_ts=None) -> dict:
    """A click on the feedback buttons of `message`: the clicked button's value is taken from the
    message's own blocks."""
    element = next(
        e
        for b in message.get("blocks") or []
        if b.get("type") == "context_actions"
        for e in b["elements"]
        if e.get("type") == "feedback_buttons"
    )
    button = element["positive_button" if rating == "good" else "negative_button"]
    action = {
        "type": "feedback_buttons",
        "action_id": element["action_id"],
        "block_id": "fb",
        "value": button["value"],
        "text": button["text"],
        "action_ts": action_ts or f"{time.time():.6f}",
    }
    return block_actions(message, action, user=user, team=team)
