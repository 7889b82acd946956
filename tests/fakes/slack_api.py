"""A fake Slack Web API: the methods the bot uses, with Slack's documented errors and limits,
a call log, and fault injection (429 storms, refusals, 500s, deletions while streaming)."""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from .server import LoopbackServer
from .slack_apps_api import SlackAppsApi
from .slack_assistant_api import SlackAssistantApi
from .slack_files_api import SlackFilesApi
from .slack_views_api import ViewsApi
from .socket_mode import SocketModeApi

MARKDOWN_LIMIT = 12_000

# Slack's limits count per app, per workspace, per method ("Rate limits",
# https://api.slack.com/apis/rate-limits; each method's page names its tier): calls per window.
# Enforced as a sliding window; the 429 carries Retry-After = seconds until a call leaves it.
MINUTE = 60.0
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "chat.startStream": (20, MINUTE),  # Tier 2
    "chat.stopStream": (20, MINUTE),  # Tier 2
    "chat.update": (50, MINUTE),  # Tier 3
    "chat.delete": (50, MINUTE),  # Tier 3
    "conversations.replies": (50, MINUTE),  # Tier 3
    "assistant.threads.setStatus": (50, MINUTE),  # Tier 3
    "chat.appendStream": (100, MINUTE),  # Tier 4
    "chat.postEphemeral": (100, MINUTE),  # Tier 4
}
# chat.postMessage: "generally allows posting one message per second per channel", short bursts
# allowed (the burst size is not published: 5 in 5 s here).
DEFAULT_PER_CHANNEL: dict[str, tuple[int, float]] = {"chat.postMessage": (5, 5.0)}

# Stream chunks (docs.slack.dev/reference/methods/chat.appendStream, "Using the chunks parameter";
# the same on chat.startStream / chat.stopStream): markdown_text {text}, task_update {id, title,
# status, details?, output?, sources? [{type: url, url, text}]}, plan_update {title}, blocks.
# task_display_mode on chat.startStream: timeline | plan. session_status on chat.stopStream:
# the agent session statuses (docs.slack.dev/ai/agent-sessions).
CHUNK_TYPES = frozenset({"markdown_text", "task_update", "plan_update", "blocks"})
TASK_STATUSES = frozenset({"pending", "in_progress", "complete", "error"})
TASK_DISPLAY_MODES = frozenset({"timeline", "plan"})
SESSION_STATUSES = frozenset({"active", "processing", "suspended", "closed"})


def chunk_error(chunks) -> str | None:
    """None if every chunk is valid, else the error Slack would answer (invalid_chunks: our
    assumption of the code; the pages name the fields, not the error)."""
    if chunks is None:
        return None
    if not isinstance(chunks, list):
        return "invalid_chunks"
    for c in chunks:
        kind = c.get("type") if isinstance(c, dict) else None
        if kind not in CHUNK_TYPES:
            return "invalid_chunks"
        if kind == "markdown_text" and not isinstance(c.get("text"), str):
            return "invalid_chunks"
        if kind == "task_update":
            if not (c.get("id") and c.get("title") and c.get("status") in TASK_STATUSES):
                return "invalid_chunks"
            for source in c.get("sources") or []:
                if not (source.get("type") == "url" and source.get("url") and source.get("text")):
                    return "invalid_chunks"  # a source without text is refused
        if kind == "plan_update" and not c.get("title"):
            return "invalid_chunks"
    return None


HOLD_LIMIT_S = 120.0


class FakeSlack(SlackAppsApi, ViewsApi, SlackAssistantApi, SlackFilesApi, SocketModeApi, LoopbackServer):
    def __init__(self, *, token="xoxb-test", bot_user_id="UBOT", bot_id="BBOT", team="T1", limits: bool = True):
        self.valid_tokens = {token}
        self.bot_user_id, self.bot_id, self.team = bot_user_id, bot_id, team
        self.lock = threading.Lock()
        self.messages: dict[str, dict] = {}  # ts -> message (with "channel")
        self.calls: list[dict] = []
        self.ephemerals: list[dict] = []
        self.native_refusal: str | None = None  # error code chat.startStream answers
        self.native_refusal_after: int | None = None  # refuse appendStream after N successful appends
        self.rate_limit: dict[str, float] = {}  # method -> probability of a 429 (fault injection)
        # Slack's own limits, per workspace: method -> (calls, window seconds); {} turns them off.
        self.limits: dict[str, tuple[int, float]] = dict(DEFAULT_LIMITS) if limits else {}
        self.per_channel_limits: dict[str, tuple[int, float]] = dict(DEFAULT_PER_CHANNEL) if limits else {}
        self.rate_limited: dict[str, int] = {}  # method -> 429s answered (both kinds)
        self._windows: dict[tuple, list[float]] = {}  # (team, method[, channel]) -> accepted call times
        self.server_errors: dict[str, int] = {}  # method -> how many 500s to answer next
        self.page_size = 200
        self.hang: dict[str, int] = {}  # method -> how many of the next calls stall for hang_s first
        self.hang_s = 2.0
        # method -> an event its responses wait for, set by the test: the call is applied and
        # shown, its caller doesn't know yet (network latency, made deterministic)
        self.held: dict[str, threading.Event] = {}
        # (method, which calls, event): matching calls wait for the event before they are applied,
        # set by the test: a request that is slow to arrive, made deterministic
        self.gates: list[tuple[str, Callable[[dict], bool], threading.Event]] = []
        self.never_released: list[str] = []  # held or gated calls whose event never came (the test's bug)
        self.user_teams: dict[str, str] = {}  # user id -> their own team (Slack Connect / Grid users)
        self.stream_lifetime_s = 300.0  # Slack ends a native stream after about 5 minutes (see _streaming)
        self.rng = random.Random(7)
        self._ts = 1_700_000_000_000_000

    # -- helpers for tests ---------------------------------------------------------------
    def _next_ts(self) -> str:  # callers hold self.lock
        self._ts += 100
        return f"{self._ts // 1_000_000}.{self._ts % 1_000_000:06d}"

    def new_ts(self) -> str:
        with self.lock:
            return self._next_ts()

    def add_message(self, channel, text, user="U1", thread_ts=None, **extra) -> str:
        ts = self.new_ts()
        self.messages[ts] = {
            "ts": ts,
            "channel": channel,
            "text": text,
            "user": user,
            "type": "message",
            **({"thread_ts": thread_ts} if thread_ts else {}),
            **extra,
        }
        return ts

    def thread(self, channel, thread_ts) -> list[dict]:
        with self.lock:
            found = [
                m
                for m in self.messages.values()
                if m["channel"] == channel and not m.get("deleted") and (m["ts"] == thread_ts or m.get("thread_ts") == thread_ts)
            ]
        return sorted(found, key=lambda m: float(m["ts"]))

    def bot_messages(self, channel, thread_ts) -> list[dict]:
        return [m for m in self.thread(channel, thread_ts) if m.get("bot_id") == self.bot_id]

    def count(self, method: str) -> int:
        return sum(1 for c in self.calls if c["method"] == method and c["status"] == 200)

    def calls_for(self, ts: str) -> list[dict]:
        return [c for c in self.calls if c.get("ts") == ts]

    def max_per_window(self, method: str, window_s: float = MINUTE) -> int:
        """The most accepted calls of `method` in any sliding window (what Slack would count)."""
        times = sorted(c["time"] for c in self.calls if c["method"] == method and c["status"] == 200)
        best, start = 0, 0
        for end, t in enumerate(times):
            while times[start] <= t - window_s:
                start += 1
            best = max(best, end - start + 1)
        return best

    def _over_limit(self, method: str, channel) -> float | None:
        """Seconds until the call would fit (Retry-After), or None if it fits (and is counted)."""
        now = time.monotonic()
        keys = []
        if method in self.limits:
            keys.append(((self.team, method), self.limits[method]))
        if method in self.per_channel_limits and channel:
            keys.append(((self.team, method, channel), self.per_channel_limits[method]))
        with self.lock:
            wait = 0.0
            for key, (count, window_s) in keys:
                times = self._windows.setdefault(key, [])
                times[:] = [t for t in times if t > now - window_s]
                if len(times) >= count:
                    wait = max(wait, times[len(times) - count] + window_s - now)
            if wait > 0:
                return wait
            for key, _ in keys:
                self._windows[key].append(now)
        return None

    # -- HTTP ------------------------------------------------------------------------------
    def handle(self, req, verb):
        if verb == "GET" and self.serve_get(req):  # url_private downloads (slack_files_api.py)
            return
        if verb == "POST" and self.serve_upload(req):  # external upload URLs (slack_files_api.py)
            return
        if not req.path.split("?", 1)[0].startswith("/api/"):  # Web API methods are https://slack.com/api/METHOD
            return req.send_json(404, {"ok": False, "error": "not_found"})  # (docs.slack.dev/apis/web-api)
        method = req.path.rsplit("/", 1)[-1]
        raw = req.body()
        if (req.headers.get("Content-Type") or "").startswith("application/json"):
            params = json.loads(raw or b"{}")
        else:
            params = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        for key in ("metadata", "chunks"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        token = (req.headers.get("Authorization") or "").removeprefix("Bearer ") or params.get("token")
        text = (
            params.get("markdown_text")
            or params.get("text")
            or "".join(c.get("text", "") for c in params.get("chunks") or [] if isinstance(c, dict))
        )
        record = {
            "method": method,
            "time": time.monotonic(),
            "ts": params.get("ts"),
            "status": 200,
            "text_len": len(text),
            "channel": params.get("channel") or params.get("channel_id"),
            "placeholder": text.startswith("_Thinking"),
        }
        self.calls.append(record)
        if self.hang.get(method):
            self.hang[method] -= 1
            time.sleep(self.hang_s)  # the client times out; the call is still applied, as it may be for real
        if self.server_errors.get(method):
            self.server_errors[method] -= 1
            record["status"] = 500
            return req.send_json(500, {"ok": False, "error": "internal_error"})
        if self.rng.random() < self.rate_limit.get(method, 0.0):
            return self._429(req, record, method, 1)
        if method in self.OWN_AUTH:  # config-token and OAuth methods check their own credentials (slack_apps_api.py)
            params["_authorization"] = req.headers.get("Authorization") or ""
        elif token not in self.valid_tokens:
            return req.send_json(200, {"ok": False, "error": "invalid_auth"})
        wait = self._over_limit(method, params.get("channel"))
        if wait is not None:
            return self._429(req, record, method, max(1, math.ceil(wait)))
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return req.send_json(200, {"ok": False, "error": "unknown_method"})
        for gated, which, opened in list(self.gates):
            if gated == method and which(params):
                self._wait_for_the_test(opened, method)
        with self.lock:
            result = handler(params)
        record["ok"] = result.get("ok")
        if method in self.held:
            self._wait_for_the_test(self.held[method], method)
        req.send_json(200, result)

    def _wait_for_the_test(self, event: threading.Event, method: str) -> None:
        """A bounded wait, so a test that forgets to release cannot hang the suite; the bound is
        far past any load, and passing it is recorded: the `slack` fixture fails the test."""
        if not event.wait(HOLD_LIMIT_S):
            self.never_released.append(method)

    def _429(self, req, record, method: str, retry_after: int):
        record["status"] = 429
        with self.lock:
            self.rate_limited[method] = self.rate_limited.get(method, 0) + 1
        return req.send_json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})

    # -- methods -----------------------------------------------------------------------------
    def m_auth_test(self, p):
        return {"ok": True, "user_id": self.bot_user_id, "bot_id": self.bot_id, "team_id": self.team}

    def m_conversations_replies(self, p):
        thread_ts = p["ts"]
        found = sorted(
            (
                m
                for m in self.messages.values()
                if m["channel"] == p["channel"]
                and not m.get("deleted")
                and (m["ts"] == thread_ts or m.get("thread_ts") == thread_ts)
            ),
            key=lambda m: float(m["ts"]),
        )
        if not found:
            return {"ok": False, "error": "thread_not_found"}
        start = int(p.get("cursor") or 0)
        size = min(int(p.get("limit") or 200), self.page_size)
        page = found[start : start + size]
        more = start + size < len(found)
        keep_meta = str(p.get("include_all_metadata")).lower() in ("1", "true")
        hidden = (
            "channel",
            "deleted",
            "streaming",
            "stream_started",
            "expired",
            "tasks",
            "task_log",
            "plan_title",
            "task_display_mode",
            "session_status",
        )
        out = [{k: v for k, v in m.items() if k not in hidden and (keep_meta or k != "metadata")} for m in page]
        return {
            "ok": True,
            "messages": out,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + size) if more else ""},
        }

    def _text(self, p):
        if p.get("text") and p.get("markdown_text"):
            return None, {"ok": False, "error": "markdown_text_conflict"}
        text = p.get("markdown_text") or p.get("text") or ""
        if len(text) > MARKDOWN_LIMIT:
            return None, {"ok": False, "error": "msg_too_long"}
        return text, None

    def _bot_message(self, channel, text, thread_ts, **extra):
        ts = self._next_ts()
        self.messages[ts] = {
            "ts": ts,
            "channel": channel,
            "text": text,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "type": "message",
            "thread_ts": thread_ts,
            **extra,
        }
        return ts

    def m_chat_postMessage(self, p):
        text, err = self._text(p)
        blocks, err = (None, err) if err else self._blocks(p)
        if err:
            return err
        ts = self._bot_message(
            p["channel"], text, p.get("thread_ts"), metadata=p.get("metadata"), **({"blocks": blocks} if blocks else {})
        )
        return {"ok": True, "channel": p["channel"], "ts": ts, "message": {"text": text, "ts": ts}}

    def _existing(self, p):
        m = self.messages.get(p.get("ts") or "")
        if m is None or m.get("deleted") or m["channel"] != p.get("channel"):
            return None
        return m

    def m_chat_update(self, p):
        m = self._existing(p)
        if m is None:
            return {"ok": False, "error": "message_not_found"}
        if m.get("bot_id") != self.bot_id:
            return {"ok": False, "error": "cant_update_message"}
        text, err = self._text(p)
        blocks, err = (None, err) if err else self._blocks(p)
        if err:
            return err
        m["text"] = text
        if blocks is not None:
            m["blocks"] = blocks
        if p.get("metadata"):
            m["metadata"] = p["metadata"]
        m.setdefault("updates", []).append(time.monotonic())
        return {"ok": True, "channel": p["channel"], "ts": m["ts"], "text": text}

    def m_chat_delete(self, p):
        m = self._existing(p)
        if m is None:
            return {"ok": False, "error": "message_not_found"}
        if m.get("bot_id") != self.bot_id:
            return {"ok": False, "error": "cant_delete_message"}
        m["deleted"] = True
        return {"ok": True, "channel": p["channel"], "ts": m["ts"]}

    def m_chat_postEphemeral(self, p):
        self.ephemerals.append({"channel": p["channel"], "user": p["user"], "text": p.get("text", "")})
        return {"ok": True, "message_ts": self._next_ts()}

    @staticmethod
    def _chunk_text(p):
        if p.get("markdown_text"):
            return p["markdown_text"]
        return "".join(c.get("text", "") for c in p.get("chunks") or [] if c.get("type") == "markdown_text")

    def _take_chunks(self, m, p) -> None:
        """Task cards by id (a later task_update with the same id updates it), the plan's title."""
        for c in p.get("chunks") or []:
            if c.get("type") == "task_update":
                m.setdefault("tasks", {})[c["id"]] = {k: v for k, v in c.items() if k != "type"}
                m.setdefault("task_log", []).append((c["id"], c["status"]))
            elif c.get("type") == "plan_update":
                m["plan_title"] = c["title"]

    def m_chat_startStream(self, p):
        if self.native_refusal:
            return {"ok": False, "error": self.native_refusal}
        if not p.get("thread_ts"):
            return {"ok": False, "error": "invalid_arguments"}
        if chunk_error(p.get("chunks")) or p.get("task_display_mode", "timeline") not in TASK_DISPLAY_MODES:
            return {"ok": False, "error": "invalid_arguments"}
        if p["channel"].startswith("C") and not (p.get("recipient_team_id") and p.get("recipient_user_id")):
            return {"ok": False, "error": "missing_recipient_team_id"}
        # chat.startStream: recipient_team_id is "the encoded ID of the team the user receiving the
        # streaming text belongs to" -- the user's own team, which differs from the installing
        # workspace for Slack Connect and Enterprise Grid users. The error code is our assumption.
        home = self.user_teams.get(p.get("recipient_user_id"))
        if home and p.get("recipient_team_id") not in (None, home):
            return {"ok": False, "error": "invalid_arguments"}
        ts = self._bot_message(
            p["channel"],
            self._chunk_text(p),
            p["thread_ts"],
            streaming=True,
            appends=0,
            stream_started=time.monotonic(),
            task_display_mode=p.get("task_display_mode"),
        )
        self._take_chunks(self.messages[ts], p)
        return {"ok": True, "channel": p["channel"], "ts": ts}

    def _streaming(self, m) -> bool:
        # Slack ends a stream server-side after about 5 minutes: appendStream and stopStream then
        # answer message_not_in_streaming_state, the message keeps the text it had and no
        # metadata; chat.update still works (python-slack-sdk#1859).
        if m.get("streaming") and time.monotonic() - m["stream_started"] > self.stream_lifetime_s:
            m["streaming"], m["expired"] = False, True
        return bool(m.get("streaming"))

    def m_chat_appendStream(self, p):
        m = self._existing(p)
        if m is None:
            return {"ok": False, "error": "message_not_found"}
        if not self._streaming(m):
            return {"ok": False, "error": "message_not_in_streaming_state"}
        if self.native_refusal_after is not None and m["appends"] >= self.native_refusal_after:
            return {"ok": False, "error": "feature_not_enabled"}
        if chunk_error(p.get("chunks")):
            return {"ok": False, "error": "invalid_chunks"}
        self._take_chunks(m, p)
        m["appends"] += 1
        m["text"] += self._chunk_text(p)
        if len(m["text"]) > MARKDOWN_LIMIT:
            return {"ok": False, "error": "msg_too_long"}
        m.setdefault("updates", []).append(time.monotonic())
        return {"ok": True, "channel": p["channel"], "ts": m["ts"]}

    def m_chat_stopStream(self, p):
        m = self._existing(p)
        if m is None:
            return {"ok": False, "error": "message_not_found"}
        if not self._streaming(m):
            return {"ok": False, "error": "message_not_in_streaming_state"}
        blocks, err = self._blocks(p, with_markdown_text=True)
        if err:
            return err
        if chunk_error(p.get("chunks")):
            return {"ok": False, "error": "invalid_chunks"}
        if p.get("session_status") is not None:
            if p["session_status"] not in SESSION_STATUSES:
                return {"ok": False, "error": "invalid_arguments"}
            m["session_status"] = p["session_status"]
        self._take_chunks(m, p)
        if blocks:
            m["blocks"] = blocks
        m["text"] += self._chunk_text(p)
        m["streaming"] = False
        if p.get("metadata"):
            m["metadata"] = p["metadata"]
        if p.get("session_status"):  # chat.stopStream session_status (agent sessions): slack_assistant_api.py
            self.stream_session_status(p["channel"], m.get("thread_ts"), p["session_status"])
        return {"ok": True, "channel": p["channel"], "ts": m["ts"]}
