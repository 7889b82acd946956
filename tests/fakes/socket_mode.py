"""A loopback Socket Mode endpoint that speaks Slack's protocol, and `apps.connections.open`
for FakeSlack (a mixin) pointing at it.

Protocol (docs.slack.dev/apis/events-api/using-socket-mode, "Socket Mode implementation"):
  * apps.connections.open (app-level token, connections:write) returns a one-off WebSocket URL;
  * on connect the server sends {"type": "hello", "num_connections", "debug_info",
    "connection_info": {"app_id"}};
  * events arrive as {"envelope_id", "type": "events_api", "payload": <the Events API envelope>,
    "accepts_response_payload": false, "retry_attempt", "retry_reason"}, interactions as
    {"envelope_id", "type": "interactive", "payload": <the interaction payload>, ...};
  * the app acknowledges each with {"envelope_id": ...} (plus an optional "payload");
  * {"type": "disconnect", "reason": "refresh_requested" | "warning" | "link_disabled"} tells the
    app to open a new connection; Slack closes the old one shortly after (here: close_after_s).

The WebSocket side is `websockets` (sync server), a test-only dependency.
"""

from __future__ import annotations

import itertools
import json
import threading
import time

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve


class SocketModeApi:
    """FakeSlack mixin: apps.connections.open hands out the fake endpoint's URL."""

    socket_mode: "FakeSocketMode | None" = None

    def m_apps_connections_open(self, p):
        # docs.slack.dev/reference/methods/apps.connections.open: ok + url. The fake can't tell an
        # app-level token from a bot token (FakeSlack.handle does not pass it on); the bot's
        # Socket Mode entry point refuses anything but xapp- itself.
        if self.socket_mode is None:
            return {"ok": False, "error": "invalid_auth"}
        self.socket_mode.opened += 1
        return {"ok": True, "url": self.socket_mode.url(self.socket_mode.opened)}


class FakeSocketMode:
    def __init__(self, *, app_id: str = "A1", close_after_s: float = 1.0):
        self.app_id = app_id
        self.close_after_s = close_after_s
        self.opened = 0  # apps.connections.open calls
        self.connections: list = []  # every WebSocket connection, oldest first
        self.acks: dict[str, dict] = {}  # envelope_id -> the app's acknowledgement
        self.sent: list[dict] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self) -> "FakeSocketMode":
        self.server = serve(self._connection, "127.0.0.1", 0)
        self.port = self.server.socket.getsockname()[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    def url(self, n: int) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket=ticket-{n}&app_id={self.app_id}"

    def _connection(self, ws) -> None:
        with self._lock:
            self.connections.append(ws)
            count = len(self.connections)
        ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": count,
                    "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": self.app_id},
                }
            )
        )
        try:
            for raw in ws:  # until the client or the server closes it
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(message, dict) and message.get("envelope_id"):
                    with self._lock:
                        self.acks[message["envelope_id"]] = message
        except ConnectionClosed:
            pass  # slack_sdk's built-in client closes the socket without a close frame

    # -- what Slack sends ----------------------------------------------------------------------
    def current(self):
        with self._lock:
            return self.connections[-1] if self.connections else None

    def _send(self, message: dict) -> None:
        ws = self.current()
        if ws is None:
            raise AssertionError("no Socket Mode connection")
        self.sent.append(message)
        ws.send(json.dumps(message))

    def send_event(self, envelope: dict, *, retry_attempt: int = 0, retry_reason: str = "") -> str:
        envelope_id = f"env-{next(self._ids)}"
        self._send(
            {
                "envelope_id": envelope_id,
                "type": "events_api",
                "payload": envelope,
                "accepts_response_payload": False,
                "retry_attempt": retry_attempt,
                "retry_reason": retry_reason,
            }
        )
        return envelope_id

    def send_interactive(self, payload: dict) -> str:
        envelope_id = f"env-{next(self._ids)}"
        self._send(
            {
                "envelope_id": envelope_id,
                "type": "interactive",
                "payload": payload,
                "accepts_response_payload": payload.get("type") == "block_suggestion",
            }
        )
        return envelope_id

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect, then close this connection a little later, as Slack does."""
        ws = self.current()
        self._send({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}})

        def close_later():
            time.sleep(self.close_after_s)
            ws.close()

        threading.Thread(target=close_later, daemon=True).start()
