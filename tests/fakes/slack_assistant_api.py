"""Slack's AI-app methods for FakeSlack (a mixin), and the Block Kit checks of the blocks the
bot sends. Each behaviour cites the page it follows; where the docs are silent, the choice is
written down next to it.

State lives on the FakeSlack instance, created on first use (FakeSlack.__init__ is not ours):
  statuses   assistant.threads.setStatus calls that succeeded (with the fake's clock)
  prompts    assistant.threads.setSuggestedPrompts calls that succeeded
  titles     assistant.threads.setTitle calls that succeeded
  channels   channel id -> conversations.info's `channel` object (tests add channels here)
"""

from __future__ import annotations

import json
import time

MAX_LOADING_MESSAGES = 10  # assistant.threads.setStatus: "Maximum of 10 messages"
MAX_PROMPTS = 4  # assistant.threads.setSuggestedPrompts: "set up to four suggested prompts"
MAX_BLOCKS = 50  # docs.slack.dev/reference/block-kit/blocks: up to 50 blocks per message
MARKDOWN_BLOCK_LIMIT = 12_000  # markdown block: "cumulative limit of 12,000 characters" per payload
CONTEXT_ACTIONS_MAX = 5  # context_actions block: "Maximum number of items is 5"
BUTTON_TEXT_MAX, BUTTON_VALUE_MAX = 75, 2000  # feedback_buttons element: text <= 75, value <= 2000


SESSION_STATUSES = ("active", "processing", "suspended", "closed")  # agents.sessions.setStatus "Acceptable values"
SESSION_TITLE_MAX = 200  # setStatus: "max 200 characters"; rename: "1-200 characters"
MISSING_STOP_EVENT = "missing_agent_session_stopped_event_subscription"


class SlackAssistantApi:
    status_refusal: str | None = None  # error code assistant.threads.setStatus answers, if set
    agent_view = False  # the app declares features.agent_view (the agent messaging experience)
    stop_event_subscribed = True  # the app subscribes to agent_session_stopped
    session_refusal: str | None = None  # error code agents.sessions.* answer, if set

    @property
    def sessions(self) -> dict[tuple, dict]:
        """(channel, thread_ts) -> {status, title, initiator, history: [(status, time)]}"""
        return self.__dict__.setdefault("_sessions", {})

    @property
    def statuses(self) -> list[dict]:
        return self.__dict__.setdefault("_statuses", [])

    @property
    def prompts(self) -> list[dict]:
        return self.__dict__.setdefault("_prompts", [])

    @property
    def titles(self) -> list[dict]:
        return self.__dict__.setdefault("_titles", [])

    @property
    def channels(self) -> dict[str, dict]:
        return self.__dict__.setdefault("_channels", {})

    # -- helpers ------------------------------------------------------------------------------
    def _thread_root(self, p) -> tuple[dict | None, dict | None]:
        """The errors the assistant.threads.* pages list: channel_not_found (bad channel_id),
        invalid_thread_ts / message_not_found (no such thread)."""
        channel, thread_ts = p.get("channel_id"), p.get("thread_ts")
        if not channel:
            return None, {"ok": False, "error": "channel_not_found"}
        if not thread_ts:
            return None, {"ok": False, "error": "invalid_thread_ts"}
        root = self.messages.get(thread_ts)
        if root is None or root["channel"] != channel or root.get("deleted"):
            return None, {"ok": False, "error": "message_not_found"}
        return root, None

    @staticmethod
    def _list(value):
        return json.loads(value) if isinstance(value, str) else value

    # -- assistant.threads.* ---------------------------------------------------------------------
    def m_assistant_threads_setStatus(self, p):
        # docs.slack.dev/reference/methods/assistant.threads.setStatus: channel_id, thread_ts,
        # status required ("" clears it); loading_messages optional, at most 10. Accepts chat:write
        # (and assistant:write for now), so in channels too (platform notes, 2026-03).
        if self.status_refusal:
            return {"ok": False, "error": self.status_refusal}
        if "status" not in p:
            return {"ok": False, "error": "invalid_arguments"}
        _, err = self._thread_root(p)
        if err:
            return err
        loading = self._list(p.get("loading_messages")) or []
        if not isinstance(loading, list) or len(loading) > MAX_LOADING_MESSAGES:
            return {"ok": False, "error": "invalid_arguments"}
        self.statuses.append(
            {
                "channel": p["channel_id"],
                "thread_ts": p["thread_ts"],
                "status": p["status"],
                "loading_messages": loading,
                "time": time.monotonic(),
            }
        )
        return {"ok": True}

    # -- agents.sessions.* (docs.slack.dev/ai/agent-sessions) ---------------------------------------
    def m_agents_sessions_setStatus(self, p):
        # docs.slack.dev/reference/methods/agents.sessions.setStatus: status required (active,
        # processing, suspended, closed); thread_ts "Required for thread-based sessions in regular
        # channels and DMs"; title (max 200) and initiator_user_id "Only used when creating a new
        # session; ignored if the session already exists". Creates the session if needed. An app not
        # subscribed to agent_session_stopped gets the warning (the event's page). The error codes
        # for a bad status/title are not published: invalid_arguments here.
        if self.session_refusal:
            return {"ok": False, "error": self.session_refusal}
        if p.get("status") not in SESSION_STATUSES or len(p.get("title") or "") > SESSION_TITLE_MAX:
            return {"ok": False, "error": "invalid_arguments"}
        _, err = self._thread_root(p)
        if err:
            return err
        key = (p["channel_id"], p["thread_ts"])
        session = self.sessions.get(key)
        if session is None:
            title = p.get("title") or ""
            session = self.sessions[key] = {
                "status": None,
                "title": title,
                "created_title": title,
                "initiator": p.get("initiator_user_id"),
                "history": [],
            }
        session["status"] = p["status"]
        session["history"].append((p["status"], time.monotonic()))
        out = {"ok": True}
        if not self.stop_event_subscribed:
            out["warning"] = MISSING_STOP_EVENT
        return out

    def m_agents_sessions_rename(self, p):
        # docs.slack.dev/reference/methods/agents.sessions.rename: title 1-200 characters. Renaming a
        # session that does not exist: the error code is not published, session_not_found here.
        if self.session_refusal:
            return {"ok": False, "error": self.session_refusal}
        if not 0 < len(p.get("title") or "") <= SESSION_TITLE_MAX:
            return {"ok": False, "error": "invalid_arguments"}
        session = self.sessions.get((p.get("channel_id"), p.get("thread_ts")))
        if session is None:
            return {"ok": False, "error": "session_not_found"}
        session["title"] = p["title"]
        session.setdefault("renames", []).append(p["title"])
        return {"ok": True}

    def stream_session_status(self, channel, thread_ts, status) -> None:
        """chat.stopStream's session_status moves the thread's session (docs.slack.dev/ai/agent-sessions:
        "then active (or closed) ... through setStatus or chat.stopStream's session_status")."""
        session = self.sessions.get((channel, thread_ts))
        if session is not None and status in SESSION_STATUSES:
            session["status"] = status
            session["history"].append((status, time.monotonic()))

    def stop_click(self, channel: str, thread_ts: str, *, user="U1", team="T1") -> dict:
        """The user clicks the native stop button (shown only while the session is processing):
        Slack stops the app's streams in the thread itself, leaves the session's status alone, and
        sends agent_session_stopped (docs.slack.dev/reference/events/agent_session_stopped).
        Returns the event envelope to deliver."""
        with self.lock:
            session = self.sessions.get((channel, thread_ts))
            assert session and session["status"] == "processing", "no stop button: the session is not processing"
            stopped = []
            for m in self.messages.values():
                if m["channel"] == channel and m.get("thread_ts") == thread_ts and m.get("streaming"):
                    m["streaming"] = False  # appendStream/stopStream now answer message_not_in_streaming_state
                    stopped.append(m["ts"])
        event_ts = self.new_ts()
        return {
            "token": "legacy",
            "team_id": team,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": f"Evs{event_ts}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": team, "user_id": self.bot_user_id, "is_bot": True}],
            "event": {
                "type": "agent_session_stopped",
                "channel": channel,
                "thread_ts": thread_ts,
                "streaming_message_ts": sorted(stopped),
                "user": user,
                "event_ts": event_ts,
            },
        }

    def m_conversations_history(self, p):
        # docs.slack.dev/reference/methods/conversations.history: top-level messages, newest first.
        found = sorted(
            (
                m
                for m in self.messages.values()
                if m["channel"] == p.get("channel") and not m.get("deleted") and m.get("thread_ts") in (None, m["ts"])
            ),
            key=lambda m: -float(m["ts"]),
        )
        if not found and not str(p.get("channel") or "").startswith("D"):
            return {"ok": False, "error": "channel_not_found"}
        limit = int(p.get("limit") or 100)
        return {
            "ok": True,
            "messages": [{k: v for k, v in m.items() if k != "channel"} for m in found[:limit]],
            "has_more": len(found) > limit,
        }

    def m_assistant_threads_setSuggestedPrompts(self, p):
        # .../assistant.threads.setSuggestedPrompts: prompts required, each {title, message}, up
        # to four; title optional. Errors: channel_not_found, invalid_thread_ts, message_not_found.
        prompts = self._list(p.get("prompts"))
        if (
            not isinstance(prompts, list)
            or not 0 < len(prompts) <= MAX_PROMPTS
            or not all(
                isinstance(x, dict)
                and isinstance(x.get("title"), str)
                and isinstance(x.get("message"), str)
                and x["title"]
                and x["message"]
                for x in prompts
            )
        ):
            return {"ok": False, "error": "invalid_arguments"}
        # Agent apps (docs.slack.dev/ai/migrating-to-agent-messaging): call it without thread_ts;
        # with one, "the call fails silently": ok, and nothing shown (not recorded here).
        if self.agent_view and p.get("thread_ts"):
            return {"ok": True}
        if self.agent_view:
            if not p.get("channel_id"):
                return {"ok": False, "error": "channel_not_found"}
            self.prompts.append(
                {
                    "channel": p["channel_id"],
                    "thread_ts": None,
                    "title": p.get("title"),
                    "prompts": prompts,
                    "time": time.monotonic(),
                }
            )
            return {"ok": True}
        _, err = self._thread_root(p)
        if err:
            return err
        self.prompts.append(
            {
                "channel": p["channel_id"],
                "thread_ts": p["thread_ts"],
                "title": p.get("title"),
                "prompts": prompts,
                "time": time.monotonic(),
            }
        )
        return {"ok": True}

    def m_assistant_threads_setTitle(self, p):
        # .../assistant.threads.setTitle: channel_id, thread_ts, title required (assistant:write).
        # slack_sdk sends it form-encoded (params=), unlike the other two (json=).
        if not p.get("title"):
            return {"ok": False, "error": "invalid_arguments"}
        root, err = self._thread_root(p)
        if err:
            return err
        root.setdefault("assistant_app_thread", {})["title"] = p["title"]
        self.titles.append(
            {"channel": p["channel_id"], "thread_ts": p["thread_ts"], "title": p["title"], "time": time.monotonic()}
        )
        return {"ok": True}

    # -- conversations.info ------------------------------------------------------------------------
    def m_conversations_info(self, p):
        # docs.slack.dev/reference/methods/conversations.info: channel_not_found when the channel
        # does not exist or the bot can't see it (a private channel it is not in).
        channel = self.channels.get(p.get("channel") or "")
        if channel is None or (channel.get("is_private") and not channel.get("bot_is_member")):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": {k: v for k, v in channel.items() if k != "bot_is_member"}}

    # -- Block Kit checks, called by FakeSlack's chat.* methods ----------------------------------
    def _blocks(self, p, *, with_markdown_text: bool = False):
        """(blocks or None, error or None). `markdown_text` "can't be combined with text/blocks"
        on chat.postMessage/update (platform notes); chat.stopStream takes both (its `blocks` are
        "rendered at the bottom of the finalized message"; @slack/web-api ChatStopStreamArguments
        allows markdown_text and blocks together)."""
        blocks = self._list(p.get("blocks"))
        if blocks is None:
            return None, None
        if p.get("markdown_text") and not with_markdown_text:
            return None, {"ok": False, "error": "markdown_text_conflict"}
        if not isinstance(blocks, list) or not blocks or len(blocks) > MAX_BLOCKS:
            return None, {"ok": False, "error": "invalid_blocks"}
        markdown_chars = 0
        for block in blocks:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "markdown":
                if not isinstance(block.get("text"), str):
                    return None, {"ok": False, "error": "invalid_blocks"}
                markdown_chars += len(block["text"])
            elif kind == "context_actions":
                if not _valid_context_actions(block):
                    return None, {"ok": False, "error": "invalid_blocks"}
            elif kind not in ("section", "context", "divider", "rich_text", "actions", "header"):
                return None, {"ok": False, "error": "invalid_blocks"}
        if markdown_chars > MARKDOWN_BLOCK_LIMIT:
            return None, {"ok": False, "error": "msg_blocks_too_long"}
        return blocks, None


def _valid_context_actions(block: dict) -> bool:
    """context_actions: 1-5 elements, feedback_buttons (positive_button and negative_button,
    each plain_text `text` <= 75 chars and a `value` <= 2000) or icon_button."""
    elements = block.get("elements")
    if not isinstance(elements, list) or not 0 < len(elements) <= CONTEXT_ACTIONS_MAX:
        return False
    for element in elements:
        if not isinstance(element, dict) or element.get("type") not in ("feedback_buttons", "icon_button"):
            return False
        if element["type"] == "icon_button":
            continue
        if len(element.get("action_id") or "") > 255:
            return False
        for side in ("positive_button", "negative_button"):
            button = element.get(side)
            if not isinstance(button, dict):
                return False
            text, value = button.get("text") or {}, button.get("value")
            if text.get("type") != "plain_text" or not 0 < len(text.get("text") or "") <= BUTTON_TEXT_MAX:
                return False
            if not isinstance(value, str) or not 0 < len(value) <= BUTTON_VALUE_MAX:
                return False
    return True
