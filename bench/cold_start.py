"""Cold start: process start -> first signed DM event acked, next to a bare functions-framework
hello (process start -> first request answered), alternating, median of several."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from bench.common import ROOT, Fakes, post, signed_dm, wait_port
from tests.fakes.cloud_tasks import FakeCloudTasks
from tests.fakes.google_oidc import FakeGoogleOIDC
from tests.fakes.metadata_server import FakeMetadataServer
from tests.fakes.secret_manager import FakeSecretManager
from tests.harness import SIGNING_SECRET, free_port


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


def _cli(target: str, source: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "functions_framework",
        "--target",
        target,
        "--source",
        source,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]


def run(k: int = 7) -> dict:
    """Four series, alternating, each process started the same way:
    bot_s          literal secrets, in-process hand-off (the README's local run);
    bot_sm_s       the three secrets from Secret Manager as on Cloud Run: K_SERVICE set, the
                   token from a fake metadata server, reads that need it (loopback fakes: the
                   deployed path minus network latency), in-process hand-off;
    bot_sm_tasks_s the same plus the Cloud Tasks hand-off (loopback fake): the deployed shape;
    ref_s          the bare hello reference."""
    fakes = Fakes()
    sm = FakeSecretManager().start()
    metadata = FakeMetadataServer(expires_in=3599).start()
    tasks = FakeCloudTasks(FakeGoogleOIDC())
    tasks.dispatch = False  # the ack is measured, not the answer
    tasks.start()
    sm.valid_tokens = {f"ya29.fake-{n}" for n in range(1, 2 * k + 1)}  # one token per process
    refs = {"K_SERVICE": "slack-bot", "GCE_METADATA_HOST": metadata.host, "SECRET_MANAGER_ENDPOINT": sm.url}
    for name, value in (
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
        ("SLACK_BOT_TOKEN", "xoxb-test"),
        ("OPENAI_API_KEY", "sk-test"),
    ):
        sm.set(name.lower(), value)
        refs[name] = sm.ref(name.lower())
    queue = {
        "TASKS_QUEUE": "projects/p/locations/l/queues/q",
        "TASKS_INVOKER_SA": "i@p.iam.gserviceaccount.com",
        "FUNCTION_URL": "https://l-p.cloudfunctions.net/slack-bot",
        "CLOUD_TASKS_ENDPOINT": tasks.url,
    }
    base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    series = {"bot_s": [], "bot_sm_s": [], "bot_sm_tasks_s": [], "ref_s": []}
    try:
        for i in range(k):
            for key, target, source, env in (
                ("bot_s", "slack_bot", "function/main.py", {**base, **fakes.bot_env()}),
                ("bot_sm_s", "slack_bot", "function/main.py", {**base, **fakes.bot_env(**refs)}),
                ("bot_sm_tasks_s", "slack_bot", "function/main.py", {**base, **fakes.bot_env(**refs, **queue)}),
                ("ref_s", "hello", "bench/hello/main.py", base),
            ):
                body, headers = signed_dm("hello", f"1700000001.{i + 1:06d}")
                port = free_port()
                series[key].append(one(_cli(target, source, port), env, port, body, headers))
    finally:
        fakes.stop()
        sm.stop()
        metadata.stop()
        tasks.stop()
    assert metadata.token_requests == 2 * k  # each process took one token, for Secret Manager and Cloud Tasks
    return {**{key: statistics.median(values) for key, values in series.items()}, "all": series}


if __name__ == "__main__":  # python -m bench.cold_start [k]   (run_all uses k=7)
    result = run(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    print(json.dumps(result, indent=1))
    ref = result["ref_s"]
    print(
        f"literal {result['bot_s']:.3f} s ({result['bot_s'] / ref:.2f}x), "
        f"Secret Manager {result['bot_sm_s']:.3f} s ({result['bot_sm_s'] / ref:.2f}x), "
        f"+ Cloud Tasks {result['bot_sm_tasks_s']:.3f} s ({result['bot_sm_tasks_s'] / ref:.2f}x), bare {ref:.3f} s"
    )
