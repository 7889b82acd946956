"""50 concurrent conversations in one process: all answers complete and correct; peak RSS and
CPU per answer of the function's worker process."""

from __future__ import annotations

import time

from bench.common import children, proc_stats
from bench.streaming import echo_answers, warm_bot


def run(n: int = 50, tokens: int = 200, delay_s: float = 0.01) -> dict:
    with warm_bot() as (fakes, bot):
        worker_pid = (children(bot.proc.pid) or [bot.proc.pid])[0]  # gunicorn's worker process
        before = proc_stats(worker_pid)
        started = time.monotonic()
        results, correct = echo_answers(fakes, bot, n, tokens, delay_s, "c")
        wall = time.monotonic() - started
        after = proc_stats(worker_pid)
        return {
            "answers": n,
            "completed": sum(1 for r in results if r),
            "correct": correct,
            "wall_s": wall,
            "peak_rss_mb": after["peak_rss_mb"],
            "rss_before_mb": before["peak_rss_mb"],
            "cpu_ms_per_answer": (after["cpu_s"] - before["cpu_s"]) * 1000 / n,
            "master_peak_rss_mb": proc_stats(bot.proc.pid)["peak_rss_mb"],
        }
