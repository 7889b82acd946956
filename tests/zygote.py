"""A fork server for the test harness: one per pytest worker, started on the first function start.

Starting the function as `python -m functions_framework` costs about a second of CPU each time,
almost all of it importing functions_framework, flask, gunicorn, openai, slack_sdk, requests and
google.auth; the suite starts some 250 functions. This process imports those libraries once, then
forks one child per start. The child takes the test's environment exactly (os.environ replaced),
its own session (the harness signals the process and its gunicorn worker), the test's log file as
stdout and stderr, and runs functions_framework's CLI as `__main__`, as the real command does.

Not imported here: `teambot` (its modules read settings at import), grpc and google.cloud
(grpc is not fork-safe once initialised), and google-auth's metadata module (it reads
GCE_METADATA_HOST at import). `PRELOAD_FORBIDDEN` is checked after the imports.

Protocol: one JSON object a line on stdin, one answer a line on stdout.
  {"op": "spawn", "argv": [...], "env": {...}, "cwd": "...", "log": "path"} -> {"pid": N}
  {"op": "poll", "pid": N} -> {"returncode": null | int} (the child reaped here, its status kept)
The server exits when its stdin closes (the pytest worker ended).
"""

from __future__ import annotations

import io
import json
import os
import runpy
import signal
import sys

PRELOAD = (
    "functions_framework",
    "functions_framework._cli",
    "functions_framework._http.gunicorn",
    "flask",
    "gunicorn.app.base",
    "gunicorn.workers.gthread",
    "openai",
    "slack_sdk",
    "slack_sdk.web",
    "slack_sdk.signature",
    "requests",
    "google.auth",
    "google.auth.transport.requests",
)
PRELOAD_FORBIDDEN = ("teambot", "grpc", "google.cloud.firestore", "google.api_core", "google.auth.compute_engine._metadata")


def preload() -> None:
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    loaded = [m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in PRELOAD_FORBIDDEN)]
    if loaded:
        raise SystemExit(f"tests.zygote: preloading imported modules that must load in the child: {loaded}")


def _child(request: dict) -> None:
    """In the forked child: become the function process. Never returns."""
    code = 1
    try:
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, 1024)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True, line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True, line_buffering=True)
        sys.__stdout__, sys.__stderr__, sys.__stdin__ = sys.stdout, sys.stderr, sys.stdin
        os.environ.clear()
        os.environ.update(request["env"])
        sys.dont_write_bytecode = request["env"].get("PYTHONDONTWRITEBYTECODE", "") != ""
        sys.argv = list(request["argv"])
        runpy.run_module("functions_framework", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> None:
    preload()
    done: dict[int, int] = {}
    out = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "spawn":
            pid = os.fork()
            if pid == 0:
                _child(request)
            answer = {"pid": pid}
        elif request["op"] == "poll":
            pid = request["pid"]
            if pid not in done:
                try:
                    reaped, status = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    reaped, status = pid, 255 << 8
                if reaped:
                    done[pid] = os.waitstatus_to_exitcode(status)
            answer = {"returncode": done.get(pid)}
        else:
            answer = {"error": f"unknown op {request['op']!r}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
