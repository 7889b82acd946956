"""Ack latency while answers stream in the same process (issue 21): one function process in
in-process hand-off mode (the README's local run), `answers` long answers streaming from the model
and written to the Slack fake (which enforces Slack's tiers), then signed-DM acks measured exactly
as bench/ack_latency.py does: each request next to one to a bare function (bench/hello),
interleaved one by one. The long answers outlast the measurement; how many still streamed when it
ended is reported, so the figure is known to be "under load".

    python -m bench.ack_under_load [--answers 40] [-n 500]
"""

from __future__ import annotations

import argparse
import json
import time

from bench.ack_latency import measure
from bench.common import Fakes, Plan, children, post, proc_stats, signed_dm, start_reference, summary
from tests.harness import wait_for

TOKEN_DELAY_S = 0.025  # 40 tokens/s per answer, as bench/busy_hour.py's long answers
MARGIN_S = 30.0  # the long answers stream this much longer than the measurement is expected to take
LOAD = "load:"


def _streaming(requests) -> int:
    return sum(1 for r in requests if r.first_token_at and not r.ended_at)


def run(n: int = 500, answers: int = 40, pace_s: float = 0.05, warmup: int = 20) -> dict:
    expected_s = (warmup + n) * (pace_s + 0.01) + 5  # each request: the pace, plus its two acks
    tokens = int((expected_s + MARGIN_S) / TOKEN_DELAY_S)
    fakes = Fakes()  # the Slack fake enforces Slack's per-workspace tiers (its default)
    short = Plan(tokens=["ok"])
    long_plan = Plan(tokens=[f" w{j}" for j in range(tokens)], delay_s=TOKEN_DELAY_S)
    fakes.model.responder = lambda body: long_plan if str(body["messages"][-1]["content"]).startswith(LOAD) else short
    ref = start_reference()
    bot = fakes.start_bot()
    try:
        # One answer first: the worker's imports (openai, slack_sdk) are done before the load starts.
        body, headers = signed_dm("warm up", "1690000000.000001", channel="Dwarm")
        assert post(bot.port, body, headers)[0] == 200
        wait_for(lambda: fakes.model.requests and fakes.model.requests[0].ended_at, timeout=30)
        started = len(fakes.model.requests)
        for k in range(answers):
            channel = f"DL{k}"
            ts = fakes.slack.add_message(channel, f"{LOAD}{k}")
            body, headers = signed_dm(f"{LOAD}{k}", ts, channel=channel)
            assert post(bot.port, body, headers)[0] == 200
        loads = lambda: [r for r in fakes.model.requests[started:] if str(r.body["messages"][-1]["content"]).startswith(LOAD)]  # noqa: E731
        wait_for(lambda: len(loads()) == answers and _streaming(loads()) == answers, timeout=60)
        at_start, calls_before, t0 = _streaming(loads()), len(fakes.slack.calls), time.monotonic()
        worker = (children(bot.proc.pid) or [bot.proc.pid])[0]
        cpu_before = proc_stats(worker)["cpu_s"]
        bot_ms, ref_ms = measure(bot.port, ref.port, n, fakes, warmup=warmup, pace_s=pace_s)
        seconds = time.monotonic() - t0
        cpu = proc_stats(worker)["cpu_s"] - cpu_before
        at_end = _streaming(loads())
        writes = [
            c
            for c in fakes.slack.calls[calls_before:]
            if c["method"].startswith("chat.") and (c.get("channel") or "").startswith("DL")
        ]
        return {
            "bot": summary(bot_ms),
            "ref": summary(ref_ms),
            "samples": {"bot": bot_ms, "ref": ref_ms},
            "answers": answers,
            "streaming_at_start": at_start,
            "streaming_at_end": at_end,
            "answer_tokens": tokens,
            "token_delay_s": TOKEN_DELAY_S,
            "measure_s": seconds,
            "answer_writes": len(writes),
            "worker_cpu_share": cpu / seconds if seconds else None,
            "429s": sum(fakes.slack.rate_limited.values()),
        }
    finally:
        bot.stop()
        ref.terminate()
        fakes.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=40)
    parser.add_argument("-n", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps({k: v for k, v in run(args.n, args.answers).items() if k != "samples"}, indent=1))
