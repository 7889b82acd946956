"""Structured logs: one JSON object per line, which Cloud Logging parses (`severity`, `message`).

Never pass message text or secret values here: only ids, counts, timings and outcomes.

`exception()` is the one way to log an *unexpected* failure: severity ERROR, the Python stack
trace in `stack_trace`, and the ReportedErrorEvent `@type`, so Cloud Error Reporting groups it
(cloud.google.com/error-reporting/docs/formatting-error-messages: a JSON entry whose `message` or
`stack_trace` holds a stack trace, or with that `@type`). It returns a short reference (`error_id`,
also in the line) that the user is shown, so an admin can find the line. Expected conditions (a
stop, Slack's documented errors, a 429) stay one-line `info`/`warning` records without a trace.
"""

from __future__ import annotations

import json
import secrets
import sys
import threading
import time
import traceback

from teambot.core.errors import SecretUnavailable

_lock = threading.Lock()

REPORTED_ERROR_EVENT = "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"
# Exception types whose text is about code, not data: their message stays in the trace. Any other
# exception's text may carry a value (a user's message, a token in a URL): only its type is logged.
_CODE_ERRORS = (
    AttributeError,
    TypeError,
    NameError,
    ImportError,
    NotImplementedError,
    RecursionError,
    json.JSONDecodeError,
    UnicodeDecodeError,
    AssertionError,
)


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


def new_error_id() -> str:
    """A short reference a user can give an admin (8 hex digits; it is in the log line)."""
    return secrets.token_hex(4)


def stack_trace(exc: BaseException) -> str:
    """A Python traceback in the standard format Error Reporting parses, with the exception text
    kept only for code-level errors (see _CODE_ERRORS); chained causes included."""
    parts = []
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(parts) < 5:
        seen.add(id(current))
        frames = "".join(traceback.format_list(traceback.extract_tb(current.__traceback__)))
        name = type(current).__qualname__
        module = type(current).__module__
        if module not in ("builtins", "__main__"):
            name = f"{module}.{name}"
        detail = str(current) if isinstance(current, _CODE_ERRORS) else ""
        parts.append(f"Traceback (most recent call last):\n{frames}{name}{': ' + detail if detail else ''}\n")
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    chained = "\nThe above exception was the direct cause of the following exception:\n\n"
    return chained.join(reversed(parts))


def exception(message: str, exc: BaseException | None = None, *, error_id: str | None = None, **fields) -> str:
    """Log an unexpected exception (default: the one being handled) once, with its stack trace,
    as an Error Reporting event. Returns the error id (a new one unless given)."""
    exc = exc if exc is not None else sys.exc_info()[1]
    error_id = error_id or new_error_id()
    trace = stack_trace(exc) if exc is not None else "".join(traceback.format_stack(limit=20))
    log(
        "ERROR",
        message,
        **{
            "@type": REPORTED_ERROR_EVENT,
            "error": type(exc).__name__ if exc else None,
            "error_id": error_id,
            **fields,
            "stack_trace": trace,
        },
    )
    return error_id


# Outages, not bugs: the network, timeouts, Google's and the HTTP stacks' own error types.
_OUTAGE_MODULES = ("requests", "urllib3", "httpx", "httpx2", "httpcore", "httpcore2", "google", "grpc", "slack_sdk")


def is_outage(exc: BaseException) -> bool:
    """An expected failure (a timeout, a refused connection, a cloud API's error, a secret that
    can't be read, which the secret store has already logged with its cause): one line, no trace."""
    return (
        isinstance(exc, (OSError, TimeoutError, SecretUnavailable))
        or "timeout" in type(exc).__name__.lower()
        or type(exc).__module__.split(".")[0] in _OUTAGE_MODULES
    )


def failed(message: str, exc: BaseException, *, severity: str = "WARNING", **fields) -> str | None:
    """A caught failure that must not stop the work: an outage is one `severity` line with its
    type; anything else is a bug and goes to `exception()` with its trace (returns its error id)."""
    if is_outage(exc):
        log(severity, message, error=type(exc).__name__, **fields)
        return None
    return exception(message, exc, **fields)
