"""Shared by the benchmark scripts: the loopback fakes, the function started exactly as the
README's local run (functions-framework CLI), signed requests, and small statistics."""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from tests.fakes.openai_api import FakeOpenAI, Plan  # noqa: E402
from tests.fakes.slack_api import FakeSlack  # noqa: E402
from tests.harness import SIGNING_SECRET, BotProcess, dm, free_port, sign  # noqa: E402

__all__ = ["FakeOpenAI", "FakeSlack", "Plan", "BotProcess", "dm", "sign", "ROOT", "Fakes"]


class Fakes:
    def __init__(self):
        self.slack = FakeSlack().start()
        self.model = FakeOpenAI().start()

    def bot_env(self, **extra) -> dict:
        return {
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "OPENAI_API_KEY": "sk-test",
            "SLACK_API_URL": self.slack.url + "/api/",
            "OPENAI_BASE_URL": self.model.url + "/v1",
            "OPENAI_MODEL": "bench-model",
            **extra,
        }

    def start_bot(self, **extra) -> BotProcess:
        # A real `python -m functions_framework`: the tests' fork server (tests/zygote.py) shares
        # pre-imported pages with its children, which is not what a deployed instance measures.
        return BotProcess(self.bot_env(**extra), real_cli=True).start()

    def stop(self):
        self.slack.stop()
        self.model.stop()


def start_reference() -> subprocess.Popen:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            "hello",
            "--source",
            str(ROOT / "bench/hello/main.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
    )
    proc.port = port
    wait_port(port)
    return proc


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.005)
    raise RuntimeError(f"nothing listening on {port}")


def post(port: int, body: bytes, headers: dict) -> tuple[int, float]:
    """One request on a new connection (as Slack opens them); returns (status, seconds)."""
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - start
    finally:
        conn.close()


def signed_dm(text: str, ts: str, channel: str = "D1") -> tuple[bytes, dict]:
    body = json.dumps(dm(text, ts, channel=channel)).encode()
    return body, {"Content-Type": "application/json", **sign(body)}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values),
        "max": max(values),
    }


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def proc_stats(pid: int) -> dict:
    """Peak RSS (MB) and CPU seconds of a process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {"peak_rss_mb": hwm / 1024, "cpu_s": (int(fields[11]) + int(fields[12])) / ticks}
