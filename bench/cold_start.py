"""Cold start: process start -> first signed DM event acked, next to a bare functions-framework
hello (process start -> first request answered), alternating, median of several."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from bench.common import ROOT, Fakes, post, signed_dm, wait_port
from tests.harness import free_port


def one(cmd: list[str], env: dict, port: int, body: bytes, headers: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        status, _ = post(port, body, headers)
        assert status == 200, status
        return time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(10)


def run(k: int = 7) -> dict:
    fakes = Fakes()
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    bot_s, ref_s = [], []
    try:
        for i in range(k):
            body, headers = signed_dm("hello", f"1700000001.{i + 1:06d}")
            port = free_port()
            bot_s.append(one([sys.executable, "-m", "functions_framework", "--target", "slack_bot", "--source",
                              "function/main.py", "--host", "127.0.0.1", "--port", str(port)],
                             {**base, **fakes.bot_env()}, port, body, headers))
            port = free_port()
            ref_s.append(one([sys.executable, "-m", "functions_framework", "--target", "hello", "--source",
                              "bench/hello/main.py", "--host", "127.0.0.1", "--port", str(port)], base, port, body, headers))
    finally:
        fakes.stop()
    return {"bot_s": statistics.median(bot_s), "ref_s": statistics.median(ref_s), "bot_all": bot_s, "ref_all": ref_s}


if __name__ == "__main__":
    print(run(3))
