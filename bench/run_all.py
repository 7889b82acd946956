"""Run every benchmark, print the table; the full run also writes BENCHMARKS.md and the plot.

python -m bench.run_all            # full (a few minutes), rewrites BENCHMARKS.md
python -m bench.run_all --smoke    # seconds, CI: checks the scripts still run, no timing claims
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from bench import ack_latency, ack_under_load, bursts, busy_hour, cold_start, concurrency, imports, streaming
from bench.common import ROOT
from bench.report import plot_ack, table, write_markdown

OUT = ROOT / "bench" / "out"
SMOKE = {
    "ack": 20,
    "ack_load": {"n": 20, "answers": 4},
    "cold": 1,
    "first": 2,
    "tokens": 60,
    "storm": (3, 20),
    "conc": (5, 20),
    "imports": 1,
    "busy": {"long_answers": 5, "tokens": 60, "delay_s": 0.025, "events": 8, "pace_s": 0.2},
    "bursts": {"answers": 4, "tokens": 30},
    "bursts_ten": {"answers": 4, "tokens": 30, "instances": 2},
}
# Busy hour, full: concurrency - 8 answers of 1,200 tokens at 25 ms (30 s), 120 new events over 30 s.
# Issue 21: acks while 40 answers stream in the same process (in-process hand-off).
FULL = {
    "ack": 500,
    "ack_load": {"n": 500, "answers": 40},
    "cold": 7,
    "first": 10,
    "tokens": 400,
    "storm": (10, 100),
    "conc": (50, 200),
    "imports": 5,
    "busy": {"tokens": 1200, "delay_s": 0.025, "events": 120, "pace_s": 0.25},
    # Issue 21: two waves of 50 x 200 tokens in one workspace; then ten processes against one fake.
    "bursts": {"answers": 50, "tokens": 200},
    "bursts_ten": {"answers": 50, "tokens": 200, "instances": 10},
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    p = SMOKE if args.smoke else FULL
    started = time.time()
    results = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "ack": ack_latency.run(p["ack"]),
        "ack_under_load": ack_under_load.run(**p["ack_load"]),
        "cold": cold_start.run(p["cold"]),
        "first_visible": streaming.first_visible(p["first"]),
        "calls": streaming.calls_per_answer(p["tokens"]),
        "storm": streaming.storm(*p["storm"]),
        "concurrency": concurrency.run(*p["conc"]),
        "imports": imports.run(p["imports"]),
        "busy_hour": busy_hour.run(**p["busy"]),
        "bursts": bursts.run(**p["bursts"]),
        "bursts_ten": bursts.run(**p["bursts_ten"]),
    }
    results["seconds"] = time.time() - started
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / ("smoke.json" if args.smoke else "results.json")).write_text(json.dumps(results, indent=1))
    rows = table(results)
    for row in rows:
        print(" | ".join(str(c) for c in row))
    if not args.smoke:
        plot_ack(results, ROOT / "bench" / "ack_latency.png")
        write_markdown(results, rows, ROOT / "BENCHMARKS.md")
        print("wrote BENCHMARKS.md, README.md's headline figures and bench/ack_latency.png")
    busy = results["busy_hour"]
    complete = (
        results["concurrency"]["correct"] == results["concurrency"]["answers"]
        and all(s["correct"] == s["answers"] for s in results["storm"].values())
        and busy["exact"] == busy["answers"]
        and all(w["exact"] == w["answers"] for key in ("bursts", "bursts_ten") for w in results[key]["waves"])
    )
    print(f"{'all answers correct' if complete else 'SOME ANSWERS WRONG'} in {results['seconds']:.0f} s")
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
