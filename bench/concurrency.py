"""50 concurrent conversations in one process: all answers complete and correct; peak RSS and
CPU per answer of the function's worker process."""

from __future__ import annotations

import time

from bench.common import Fakes, Plan, children, proc_stats
from bench.streaming import ask, ask_many


def run(n: int = 50, tokens: int = 200, delay_s: float = 0.01) -> dict:
    fakes = Fakes()
    bot = fakes.start_bot()
    try:
        ask(fakes, bot, "Dwarm", "warm up")
        worker_pid = (children(bot.proc.pid) or [bot.proc.pid])[0]
        before = proc_stats(worker_pid)
        fakes.model.responder = lambda body: Plan(
            tokens=[f" {body['messages'][-1]['content']}:{j}" for j in range(tokens)], delay_s=delay_s)
        started = time.monotonic()
        results = ask_many(fakes, bot, [(f"D{i}", f"c{i}") for i in range(n)])
        wall = time.monotonic() - started
        after = proc_stats(worker_pid)
        correct = sum(1 for i, r in enumerate(results)
                      if r and "".join(m["text"] for m in r[2]) == "".join(f" c{i}:{j}" for j in range(tokens)))
        return {"answers": n, "completed": sum(1 for r in results if r), "correct": correct, "wall_s": wall,
                "peak_rss_mb": after["peak_rss_mb"], "rss_before_mb": before["peak_rss_mb"],
                "cpu_ms_per_answer": (after["cpu_s"] - before["cpu_s"]) * 1000 / n,
                "master_peak_rss_mb": proc_stats(bot.proc.pid)["peak_rss_mb"]}
    finally:
        bot.stop()
        fakes.stop()
