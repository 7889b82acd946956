"""`make run`: the HTTP function on this machine, the way Cloud Functions runs it.

    python -m teambot.dev.local        (from function/, or with function/ on PYTHONPATH)

Refuses to start, with one line naming the variable, when SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN
or OPENAI_API_KEY is missing (a server that refuses every request would look like a Slack
problem). Otherwise starts functions-framework with this interpreter (no venv activation
needed), waits until the port accepts connections, and says where it listens.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from teambot.core import settings as env

SOURCE = Path(__file__).resolve().parents[2] / "main.py"  # function/main.py
START_TIMEOUT_S = 60.0


def main() -> int:
    problem = env.missing_message("run", "Local run")
    if problem:
        print(problem, file=sys.stderr)
        return 2
    host, port = env.local_listen()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            "slack_bot",
            "--source",
            str(SOURCE),
            "--host",
            host,
            "--port",
            str(port),
        ]
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _: server.send_signal(signum))
    deadline = time.monotonic() + START_TIMEOUT_S
    while server.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1" if host == "0.0.0.0" else host, port), timeout=0.5).close()
            print(
                f"teambot: listening on http://{host}:{port}/ (Slack request URL: this address behind a tunnel; Ctrl-C stops)",
                file=sys.stderr,
                flush=True,
            )
            break
        except OSError:
            time.sleep(0.1)
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
