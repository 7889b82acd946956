"""Local development over Socket Mode: `make dev` (`python -m teambot.dev.socket_mode`).

The same handlers as the deployed function, with no public URL: slack_sdk's built-in Socket Mode
client (slack_sdk.socket_mode.builtin, no extra dependency) opens a WebSocket with the app-level
token SLACK_APP_TOKEN (xapp-..., scope connections:write) through apps.connections.open, and
Slack sends events and interactions over it (docs.slack.dev/apis/events-api/using-socket-mode).

Each request goes through the same ingress as the HTTP route, after the transport checks
(Ingress.on_envelope / on_interaction: team allow-list, parsing via the registry, dedup, the
in-process hand-off to a worker thread), then is acknowledged with its `envelope_id`, which is
Socket Mode's equivalent of the HTTP 200. Like the HTTP route: bad input is acknowledged and
dropped (a redelivery would be refused again); a failure to hand off is not acknowledged, so
Slack redelivers. On a `disconnect` message (Slack refreshes connections every few hours) the
SDK opens a new URL and reconnects (BaseSocketModeClient.process_message ->
connect_to_new_endpoint(force=True)); tests/e2e/test_socket_mode.py checks it against a fake.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import sys
import threading

from teambot.core import logs
from teambot.core import settings as env
from teambot.core.errors import BadRequest, BotError

CONNECTED = "teambot: connected to Slack over Socket Mode (no public URL needed); Ctrl-C stops."


class SocketModeBridge:
    """Socket Mode requests -> the HTTP ingress's entry points -> ack by envelope_id."""

    def __init__(self, ingress):
        self._ingress = ingress
        self.connections = 0

    def on_request(self, client, request) -> None:
        from slack_sdk.socket_mode.response import SocketModeResponse

        try:
            if request.type == "events_api":
                retry = str(request.retry_attempt) if request.retry_attempt else None
                self._ingress.on_envelope(request.payload, retry, request.retry_reason or None)
            elif request.type == "interactive":
                self._ingress.on_interaction(request.payload)
            else:  # slash_commands: the app declares none
                logs.info("socket_mode_ignored", type=request.type)
        except BadRequest as refused:
            logs.warning("refused", status=refused.status, reason=refused.reason, transport="socket_mode")
        except BotError as failure:
            logs.error("unavailable", error=type(failure).__name__, transport="socket_mode")
            return  # not acknowledged: Slack redelivers it
        except Exception as exc:  # never crash the client; never echo details
            logs.exception("unhandled", exc, transport="socket_mode")
            return
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))

    def on_raw_message(self, raw: str) -> None:
        """hello / disconnect, for the person running `make dev` and the logs."""
        try:
            message = json.loads(raw) if raw.startswith("{") else {}
        except ValueError:
            return
        if message.get("type") == "hello":
            self.connections += 1
            if self.connections == 1:
                print(CONNECTED, file=sys.stderr, flush=True)
            logs.info(
                "socket_mode_connected", connections=self.connections, app_id=(message.get("connection_info") or {}).get("app_id")
            )
        elif message.get("type") == "disconnect":
            logs.info("socket_mode_disconnect", reason=message.get("reason"), reconnecting=True)


def build_client(settings, app_token: str, bridge: SocketModeBridge):
    from slack_sdk import WebClient
    from slack_sdk.socket_mode.builtin import SocketModeClient

    base_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    client = SocketModeClient(
        app_token=app_token, web_client=WebClient(base_url=base_url), on_message_listeners=[bridge.on_raw_message]
    )
    client.socket_mode_request_listeners.append(bridge.on_request)
    return client


def main() -> int:
    problem = env.missing_message("dev", "Local development")
    if problem:
        print(problem, file=sys.stderr)
        return 2
    app_token = env.slack_app_token()
    if not app_token.startswith("xapp-"):
        print(
            "teambot: SLACK_APP_TOKEN must be an app-level token (xapp-..., scope connections:write), "
            "from the app's Basic Information page",
            file=sys.stderr,
        )
        return 2
    from slack_sdk.errors import SlackApiError

    from teambot.app import App

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # the SDK's connection warnings
    # Same ingress, dedup and worker as `make run`; always the in-process hand-off.
    app = App(dataclasses.replace(env.Settings.from_env(), tasks_queue=None))
    bridge = SocketModeBridge(app.ingress)
    client = build_client(app.settings, app_token, bridge)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("teambot: connecting to Slack over Socket Mode…", file=sys.stderr, flush=True)
    try:
        client.connect()
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else "unknown_error"
        print(
            f"teambot: Slack refused SLACK_APP_TOKEN ({error}); check the token and its connections:write scope", file=sys.stderr
        )
        client.close()
        return 1
    stop.wait()
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
