"""Ack latency of signed DM events, warm, against a bare functions-framework function in the
same run (requests interleaved one by one, so both see the same machine)."""

from __future__ import annotations

import time

from bench.common import Fakes, Plan, post, signed_dm, start_reference, summary
from tests.fakes.cloud_tasks import FakeCloudTasks
from tests.fakes.google_oidc import FakeGoogleOIDC
from tests.harness import wait_for

TIME_LIMIT_S = 180


def measure(bot_port: int, ref_port: int, n: int, fakes, warmup: int = 20, pace_s: float = 0.05):
    """Paced at 20 requests/s, so each answer's work runs between acks as under a busy team's
    load; after a warm-up whose answers have finished (the worker's imports are done)."""
    bot, ref = [], []
    deadline = time.monotonic() + TIME_LIMIT_S
    base = len(fakes.model.requests)
    for i in range(warmup + n):
        if time.monotonic() > deadline:
            break
        if i == warmup:  # warm: the first answers (and the worker's imports) are done
            wait_for(lambda: len(fakes.model.requests) >= base + warmup, timeout=30)
            time.sleep(0.5)
        tick = time.monotonic()
        body, headers = signed_dm(f"question {i}", f"{1700000000 + base}.{i + 1:06d}", channel=f"D{i % 50}")
        status, seconds = post(bot_port, body, headers)
        assert status == 200, status
        status_ref, seconds_ref = post(ref_port, body, headers)
        assert status_ref == 200
        if i >= warmup:
            bot.append(seconds * 1000)
            ref.append(seconds_ref * 1000)
        time.sleep(max(0.0, pace_s - (time.monotonic() - tick)))
    return bot, ref


def run(n: int = 500) -> dict:
    fakes = Fakes()
    fakes.model.default_plan = Plan(tokens=["ok"])
    ref = start_reference()
    oidc = FakeGoogleOIDC().start()
    tasks = FakeCloudTasks(oidc).start()  # delivers each task back to the same instance, as in production
    results = {}
    try:
        modes = {
            "in_process": fakes.start_bot(),
            "cloud_tasks": fakes.start_bot(
                TASKS_QUEUE="projects/p/locations/l/queues/q",
                TASKS_INVOKER_SA="i@p.iam.gserviceaccount.com",
                FUNCTION_URL="https://l-p.cloudfunctions.net/slack-bot",
                CLOUD_TASKS_ENDPOINT=tasks.url,
                OIDC_CERTS_URL=oidc.certs_url,
            ),
        }
        tasks.targets.append(modes["cloud_tasks"].url)
        for mode, bot in modes.items():
            bot_ms, ref_ms = measure(bot.port, ref.port, n, fakes)
            results[mode] = {"bot": summary(bot_ms), "ref": summary(ref_ms), "samples": {"bot": bot_ms, "ref": ref_ms}}
            bot.stop()
        results["answers_started"] = len(fakes.model.requests)
    finally:
        ref.terminate()
        tasks.stop()
        oidc.stop()
        fakes.stop()
    return results


if __name__ == "__main__":
    import json

    print(json.dumps({k: {m: v[m] for m in ("bot", "ref")} if isinstance(v, dict) else v for k, v in run(100).items()}, indent=1))
