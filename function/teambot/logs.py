"""Structured logs: one JSON object per line, which Cloud Logging parses (`severity`, `message`).

Never pass message text or secret values here: only ids, counts, timings and outcomes.
"""

from __future__ import annotations

import json
import sys
import threading
import time

_lock = threading.Lock()


def log(severity: str, message: str, **fields) -> None:
    record = {"severity": severity, "message": message, "time": round(time.time(), 3), **fields}
    line = json.dumps(record, default=str, separators=(",", ":"))
    with _lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def info(message: str, **fields) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields) -> None:
    log("ERROR", message, **fields)
