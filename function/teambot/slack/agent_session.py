"""Agent sessions (docs.slack.dev/ai/agent-sessions): every answer runs inside its thread's session.

  * `agents.sessions.setStatus` {status, channel_id, thread_ts, title (<= 200, used only when the
    session is created), initiator_user_id} creates the session if needed: `processing` before
    the answer's first visible text (Slack then shows the native stop button), `active` when the
    answer ends (chat.stopStream's `session_status` does the same where the answer ends natively:
    SlackReply.finish(session_status=...) reports that in `session_status_sent`).
  * `agents.sessions.rename` {title, channel_id, thread_ts} when the answer gives a better title
    (it opens with a heading) than the question did.
  * An app not subscribed to `agent_session_stopped` gets the setStatus warning
    `missing_agent_session_stopped_event_subscription` (the user sees a spinner, no stop button):
    logged once per process.

slack_sdk 3.47 has wrappers (WebClient.agents_sessions_setStatus / _rename; the issue text
predates them): they are called through SlackOps.call, i.e. the same WebClient with the same
retry handlers and write budget as every other call. A refusal never costs the answer; refusals
that concern the whole workspace (an app that is not an agent, a missing scope) stop further calls.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from teambot.core import logs

if TYPE_CHECKING:
    from teambot.answer.services import Context
    from teambot.core.jobs import Job

PROCESSING, ACTIVE, SUSPENDED, CLOSED = "processing", "active", "suspended", "closed"
STATUSES = (PROCESSING, ACTIVE, SUSPENDED, CLOSED)
TITLE_LIMIT = 200  # setStatus / rename: "max 200 characters"
MISSING_STOP_EVENT = "missing_agent_session_stopped_event_subscription"
WORKSPACE_REFUSALS = frozenset(
    {
        "missing_scope",
        "unknown_method",
        "not_allowed_token_type",
        "feature_not_enabled",
        "not_an_agent",
        "invalid_auth",
        "not_authed",
    }
)
_HEADING = re.compile(r"^\s*(?:#{1,6}\s+(.+?)\s*#*\s*$|\*\*(.+?)\*\*\s*$)")


def session_title(text: str) -> str:
    """One line, at most TITLE_LIMIT characters."""
    title = " ".join(text.split())
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1].rstrip() + "…"


def better_title(answer: str) -> str:
    """The answer's opening heading (`# X` or a bold first line), or "" when it has none."""
    first = next((line for line in answer.splitlines() if line.strip()), "")
    match = _HEADING.match(first)
    return session_title(match.group(1) or match.group(2)) if match else ""


class SessionMemory:
    """Per process: warnings and refusals logged once; off after a workspace-wide refusal."""

    def __init__(self):
        self._logged: set[str] = set()
        self.off = False
        self._lock = threading.Lock()

    def once(self, code: str) -> bool:
        with self._lock:
            first = code not in self._logged
            self._logged.add(code)
            if code in WORKSPACE_REFUSALS:
                self.off = True
            return first


def _memory(ctx: "Context") -> SessionMemory:
    return ctx.services.sessions


def set_status(ctx: "Context", job: "Job", status: str, *, title: str = "", thread_ts: str | None = None) -> bool:
    """Set the session of the job's reply thread to `status` (creating it, titled, if needed).
    True when Slack accepted it. Never raises."""
    from slack_sdk.errors import SlackApiError

    from teambot.slack.client import slack_error

    memory = _memory(ctx)
    if memory.off:
        return False
    extra = {"title": session_title(title)} if title.strip() else {}
    try:
        response = ctx.slack.call(
            "agents_sessions_setStatus",
            team=job.team,
            channel_id=job.channel,
            thread_ts=thread_ts or job.reply_thread_ts,
            status=status,
            initiator_user_id=job.user,
            **extra,
        )
    except SlackApiError as exc:
        code = slack_error(exc)
        if memory.once(code):
            logs.warning("session_refused", error=code, channel=job.channel, stops_trying=code in WORKSPACE_REFUSALS)
        return False
    except Exception as exc:  # a timeout: the answer matters more than its session status
        if memory.once(type(exc).__name__):
            logs.warning("session_refused", error=type(exc).__name__, channel=job.channel)
        return False
    warning = str(response.get("warning") or "")
    if MISSING_STOP_EVENT in warning.split(",") and memory.once(MISSING_STOP_EVENT):
        logs.warning(
            "session_warning",
            warning=MISSING_STOP_EVENT,
            channel=job.channel,
            fix="subscribe the app to the agent_session_stopped bot event (slack_manifest.yaml)",
        )
    return True


def rename(ctx: "Context", job: "Job", title: str) -> bool:
    """agents.sessions.rename; True when Slack accepted it. Never raises."""
    from slack_sdk.errors import SlackApiError

    from teambot.slack.client import slack_error

    title = session_title(title)
    if not title or _memory(ctx).off:
        return False
    try:
        ctx.slack.call(
            "agents_sessions_rename", team=job.team, channel_id=job.channel, thread_ts=job.reply_thread_ts, title=title
        )
        return True
    except SlackApiError as exc:
        logs.info("session_rename_refused", error=slack_error(exc), channel=job.channel)
    except Exception as exc:
        logs.info("session_rename_refused", error=type(exc).__name__, channel=job.channel)
    return False
