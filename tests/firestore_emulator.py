"""The real Firestore emulator from the Google Cloud CLI (`gcloud emulators firestore start`).

Used by the `firestore_emulator` fixture (tests/conftest.py) and by .ci/run:
    python -m tests.firestore_emulator wait HOST:PORT   # exit 0 once the emulator answers
The emulator answers `GET /` with "Ok" once it serves; gcloud starts a shell script that starts
Java, so the whole process group is stopped, not only gcloud (which would leave Java running).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from tests.harness import free_port

START_TIMEOUT_S = 90  # the JVM starts in a few seconds; the shared machine can be slow


def gcloud() -> str | None:
    return shutil.which("gcloud")


def ready(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def wait_ready(host: str, timeout_s: float = START_TIMEOUT_S, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready(host):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the Firestore emulator exited with {proc.returncode}")
        time.sleep(0.25)
    raise RuntimeError(f"the Firestore emulator did not answer on {host} within {timeout_s}s")


class Emulator:
    def __init__(self):
        self.host = f"127.0.0.1:{free_port()}"
        self.log = tempfile.NamedTemporaryFile("w+", prefix="firestore-emulator-", suffix=".log", delete=False)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Emulator":
        self.proc = subprocess.Popen(
            [gcloud(), "emulators", "firestore", "start", f"--host-port={self.host}", "--quiet"],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own group: stop all of it
        )
        try:
            wait_ready(self.host, proc=self.proc)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None and not _group_alive(self.proc.pid):
            return
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and _group_alive(self.proc.pid):
                self.proc.poll()
                time.sleep(0.1)
            if not _group_alive(self.proc.pid):
                return


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "wait":
        wait_ready(sys.argv[2])
    else:
        sys.exit("usage: python -m tests.firestore_emulator wait HOST:PORT")
