"""A busy hour on ONE function instance in Cloud Tasks mode, configured as the stack configures it
(THREADS from infra/config.py, Cloud Run `concurrency`), against the Slack fake with Slack's
per-workspace limits on, the OpenAI fake, the Cloud Tasks fake and Google's OIDC fake.

The instance is filled with long answers (about 30 s of model time each, full run) up to its
concurrency limit, leaving room for the new events that arrive throughout: Cloud Run never sends
an instance more than `concurrency` requests, so task deliveries wait for a free slot (GatedTasks)
and the events are sent one at a time. The events' acks are timed from a separate process (the
fakes' threads do not compete with the stopwatch), each next to a request to a bare
functions-framework function (bench/hello) in the same run. Reported: ack p50/p99/max and acks over
3 s, every answer complete and exact, 429s and Slack writes per method per minute against each
tier, wall time against the model's own time, peak RSS of the worker process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

from bench.common import ROOT, Fakes, Plan, children, post, proc_stats, signed_dm, start_reference, summary
from tests.fakes.cloud_tasks import FakeCloudTasks
from tests.fakes.google_oidc import FakeGoogleOIDC
from tests.fakes.slack_api import DEFAULT_LIMITS

ACK_DEADLINE_S = 3.0  # Slack's
EVENT_TEAM_HEADROOM = 2  # task slots kept free for the events' own answers


def stack_function_config() -> dict:
    """THREADS and concurrency exactly as the Pulumi stack sets them (infra/config.py defaults)."""
    from infra import config

    cfg = config.defaults("bench")
    env = dict(config.function_runtime_env(cfg))
    return {"env": env, "concurrency": cfg.concurrency, "cpu": cfg.cpu, "source": "infra.config.function_runtime_env"}


class GatedTasks(FakeCloudTasks):
    """Cloud Tasks delivering to one Cloud Run instance that takes at most `slots` requests."""

    def __init__(self, oidc, slots: int):
        super().__init__(oidc)
        self.gate = threading.BoundedSemaphore(slots)
        self.in_flight = 0
        self.max_in_flight = 0
        self._count_lock = threading.Lock()

    def _dispatch(self, task):
        with self.gate:
            with self._count_lock:
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                super()._dispatch(task)
            finally:
                with self._count_lock:
                    self.in_flight -= 1


def long_text(i: int, tokens: int) -> list[str]:
    return [f" L{i}w{j}" for j in range(tokens)]


def short_text(k: int) -> list[str]:
    return ["Sure", f" {k}", "."]


def ack_loop(bot_port: int, ref_port: int, n: int, pace_s: float, base: int, channel_prefix: str) -> dict:
    """Run in its own process: n new events, one at a time, each followed by a bare-function
    request (python -m bench.busy_hour --acks BOT REF N PACE BASE prints the result)."""
    bot, ref = [], []
    for k in range(n):
        tick = time.monotonic()
        body, headers = signed_dm(f"short:{k}", f"{1800000000 + base}.{k + 1:06d}", channel=f"{channel_prefix}{k}")
        status, seconds = post(bot_port, body, headers)
        status_ref, seconds_ref = post(ref_port, body, headers)
        bot.append((status, seconds * 1000))
        ref.append((status_ref, seconds_ref * 1000))
        time.sleep(max(0.0, pace_s - (time.monotonic() - tick)))
    return {"bot": bot, "ref": ref}


def _finished_text(slack, channel: str, ts: str) -> str | None:
    msgs = slack.bot_messages(channel, ts)
    if not msgs or msgs[-1].get("streaming"):
        return None
    state = ((msgs[-1].get("metadata") or {}).get("event_payload") or {}).get("state")
    if state in (None, "streaming", "continued"):
        return None
    return "".join(m["text"] for m in msgs)


def run(
    long_answers: int | None = None,
    tokens: int = 1200,
    delay_s: float = 0.025,
    events: int = 120,
    pace_s: float = 0.25,
    timeout_s: float = 600,
    in_process: bool = False,
) -> dict:
    """`in_process=True`: the same load with the in-process hand-off (local runs), for comparison."""
    config = stack_function_config()
    concurrency = config["concurrency"]
    long_answers = long_answers if long_answers is not None else concurrency - 8
    fakes = Fakes()  # the Slack fake enforces Slack's limits (its default)
    model = ModelProcess(tokens, delay_s)
    ref = start_reference()
    oidc = FakeGoogleOIDC().start()
    tasks = GatedTasks(oidc, slots=concurrency - EVENT_TEAM_HEADROOM).start()
    tasks_env = (
        {}
        if in_process
        else dict(
            TASKS_QUEUE="projects/p/locations/l/queues/q",
            TASKS_INVOKER_SA="i@p.iam.gserviceaccount.com",
            FUNCTION_URL="https://l-p.cloudfunctions.net/slack-bot",
            CLOUD_TASKS_ENDPOINT=tasks.url,
            OIDC_CERTS_URL=oidc.certs_url,
        )
    )
    bot = fakes.start_bot(OPENAI_BASE_URL=model.url + "/v1", **tasks_env, **config["env"])
    tasks.targets.append(bot.url)
    cpus = _pin(bot, config["cpu"])
    config["pinned_cpus"] = cpus
    try:
        return _busy_hour(fakes, model, bot, ref, tasks, config, long_answers, tokens, delay_s, events, pace_s, timeout_s)
    finally:
        model.stop()
        bot.stop()
        ref.terminate()
        tasks.stop()
        oidc.stop()
        fakes.stop()


class ModelProcess:
    """The OpenAI fake in its own process: streaming a thousand SSE events a second would load the
    process that also hosts the Cloud Tasks fake, whose answer is part of every ack."""

    def __init__(self, tokens: int, delay_s: float):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.busy_hour", "--model", str(tokens), str(delay_s)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = json.loads(self.proc.stdout.readline())["url"]
        self.requests: list[dict] | None = None

    def stop(self) -> list[dict]:
        if self.requests is None:
            try:
                self.proc.stdin.write("stop\n")
                self.proc.stdin.flush()
                self.requests = json.loads(self.proc.stdout.readline() or "[]")
            except (OSError, ValueError):
                self.requests = []
            self.proc.wait(10)
        return self.requests


def serve_model(tokens: int, delay_s: float) -> None:
    """The child of ModelProcess: serve until told to stop, then print what was asked."""
    from tests.fakes.openai_api import FakeOpenAI

    fake = FakeOpenAI().start()
    fake.responder = lambda body: _plan(body["messages"][-1]["content"], tokens, delay_s)
    print(json.dumps({"url": fake.url}), flush=True)
    sys.stdin.readline()
    print(
        json.dumps(
            [
                {
                    "question": r.body["messages"][-1]["content"],
                    "first_token_at": r.first_token_at,
                    "ended_at": r.ended_at,
                    "finished": r.finished,
                }
                for r in fake.requests
            ]
        ),
        flush=True,
    )
    fake.stop()


def _pin(bot, cpu: str) -> list[int]:
    """Give the instance the stack's vCPUs (cpu "1": one core of this machine) by pinning the
    server and its worker processes, every thread (taskset -a); threads created later inherit."""
    count = max(1, int(float(cpu)))
    cores = sorted(os.sched_getaffinity(0))[-count:]
    if len(cores) == len(os.sched_getaffinity(0)):
        return cores  # the machine has no more cores than the instance: nothing to pin
    deadline = time.monotonic() + 10
    while not children(bot.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in [bot.proc.pid, *children(bot.proc.pid)]:
        subprocess.run(["taskset", "-a", "-cp", ",".join(map(str, cores)), str(pid)], check=True, capture_output=True)
    return cores


def _plan(question: str, tokens: int, delay_s: float) -> Plan:
    kind, _, number = question.partition(":")
    if kind == "long":
        return Plan(tokens=long_text(int(number), tokens), delay_s=delay_s)
    return Plan(tokens=short_text(int(number)) if kind == "short" else ["ok"])


def _busy_hour(fakes, model, bot, ref, tasks, config, long_answers, tokens, delay_s, events, pace_s, timeout_s) -> dict:
    slack = fakes.slack
    # Warm: one answer (imports, auth.test) before the clock starts.
    warm_ts = slack.add_message("W0", "warm:0")
    body, headers = signed_dm("warm:0", warm_ts, channel="W0")
    assert post(bot.port, body, headers)[0] == 200
    _wait(lambda: _finished_text(slack, "W0", warm_ts) is not None, 60)
    expected: dict[tuple[str, str], str] = {}
    base = int(time.time()) % 100_000
    calls_before = len(slack.calls)
    started = time.monotonic()
    for i in range(long_answers):
        ts = slack.add_message(f"L{i}", f"long:{i}")
        body, headers = signed_dm(f"long:{i}", ts, channel=f"L{i}")
        assert post(bot.port, body, headers)[0] == 200
        expected[(f"L{i}", ts)] = "".join(long_text(i, tokens))
    if "TASKS_QUEUE" in bot.env:
        _wait(lambda: tasks.in_flight >= long_answers, 60)  # the instance is full
    else:  # in-process: every long answer has shown its first text
        _wait(lambda: all(slack.bot_messages(channel, ts) for channel, ts in expected), 60)
    # New events throughout, timed from a separate process.
    acks = _measure_acks(slack, bot, ref, expected, events, pace_s, base + 1, "N", timeout_s)
    done_at: dict[tuple[str, str], float] = {}

    def all_done() -> bool:
        for key in expected:
            if key not in done_at and _finished_text(slack, *key) is not None:
                done_at[key] = time.monotonic()
        return len(done_at) == len(expected)

    _wait(all_done, timeout_s, interval=0.2)
    wall = time.monotonic() - started
    calls = slack.calls[calls_before:]
    # The same instance idle again, in the same run: what an ack costs here without answers beside it.
    idle = _measure_acks(slack, bot, ref, expected, max(5, events // 4), pace_s, base + 2, "I", timeout_s)
    _wait(lambda: all(_finished_text(slack, *key) is not None for key in expected), 60)
    exact = sum(1 for key, text in expected.items() if _finished_text(slack, *key) == text)
    long_model = [r for r in model.stop() if r["question"].startswith("long:")]
    model_s = max(r["ended_at"] for r in long_model) - min(r["first_token_at"] for r in long_model) + delay_s
    span_min = max(1e-9, (max(c["time"] for c in calls) - min(c["time"] for c in calls)) / 60)
    per_method = {}
    for method in sorted({c["method"] for c in calls}):
        ok = [c for c in calls if c["method"] == method and c["status"] == 200]
        tier = DEFAULT_LIMITS.get(method)
        per_method[method] = {
            "calls": len(ok),
            "per_min_avg": len(ok) / span_min,
            "max_in_any_minute": slack.max_per_window(method, 60.0),
            "tier_per_min": tier[0] if tier else None,
            "429s": slack.rate_limited.get(method, 0),
        }
    bot_ms = [ms for _, ms in acks["bot"]]
    ref_ms = [ms for _, ms in acks["ref"]]
    workers = children(bot.proc.pid) or [bot.proc.pid]
    per_worker = [proc_stats(pid) for pid in workers]
    stats = {"peak_rss_mb": sum(s["peak_rss_mb"] for s in per_worker), "cpu_s": sum(s["cpu_s"] for s in per_worker)}
    return {
        "config": {k: config[k] for k in ("env", "concurrency", "cpu", "source", "pinned_cpus")},
        "long_answers": long_answers,
        "tokens": tokens,
        "token_delay_s": delay_s,
        "events": events,
        "max_in_flight": tasks.max_in_flight + 1,  # task deliveries + the one event being acked
        "ack": {
            "bot": summary(bot_ms),
            "ref": summary(ref_ms),
            "over_3s": sum(1 for ms in bot_ms if ms > ACK_DEADLINE_S * 1000),
            "non_200": sum(1 for status, _ in acks["bot"] if status != 200),
            "samples": {"bot": bot_ms, "ref": ref_ms},
            "idle": summary([ms for _, ms in idle["bot"]]),
            "idle_ref": summary([ms for _, ms in idle["ref"]]),
        },
        "answers": len(expected),
        "exact": exact,
        "wall_s": wall,
        "model_s": model_s,
        "429s": sum(slack.rate_limited.values()),
        "per_method": per_method,
        "peak_rss_mb": stats["peak_rss_mb"],
        "cpu_s": stats["cpu_s"],
    }


def _measure_acks(slack, bot, ref, expected, n, pace_s, base, channel_prefix, timeout_s) -> dict:
    for k in range(n):
        ts = f"{1800000000 + base}.{k + 1:06d}"
        channel = f"{channel_prefix}{k}"
        with slack.lock:
            slack.messages[ts] = {"ts": ts, "channel": channel, "text": f"short:{k}", "user": "U1", "type": "message"}
        expected[(channel, ts)] = "".join(short_text(k))
    measurer = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.busy_hour",
            "--acks",
            str(bot.port),
            str(ref.port),
            str(n),
            str(pace_s),
            str(base),
            channel_prefix,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    return json.loads(measurer.stdout)


def _wait(predicate, timeout: float, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"busy hour: not done within {timeout} s")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--model"]:
        serve_model(int(sys.argv[2]), float(sys.argv[3]))
        raise SystemExit(0)
    if sys.argv[1:2] == ["--acks"]:
        bot_port, ref_port, n, pace_s, base, prefix = sys.argv[2:8]
        print(json.dumps(ack_loop(int(bot_port), int(ref_port), int(n), float(pace_s), int(base), prefix)))
        raise SystemExit(0)
    small = "--small" in sys.argv
    result = run(long_answers=8, tokens=120, delay_s=0.025, events=20) if small else run()
    result["ack"].pop("samples")
    print(json.dumps(result, indent=1))
