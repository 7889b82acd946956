"""Render slack_manifest.yaml (the template at the repo root). Pure.

    python -m infra.manifest https://REGION-PROJECT.cloudfunctions.net/NAME [--bot-name X]
    python -m infra.manifest --socket-mode        # `make manifest-dev`, for `make dev`

prints the rendered manifest (`make manifest` uses the stack output instead). The Socket Mode
variant has `socket_mode_enabled: true` and no request URLs: Slack then delivers events and
interactions over the WebSocket `make dev` opens (docs.slack.dev/apis/events-api/using-socket-mode).

The agent view's suggested prompts (features.agent_view.suggested_prompts, at most 4 of
{title, message}) come from Pulumi config `suggestedPrompts`, parsed by the function's own
env.suggested_prompts so the manifest and assistant.threads.setSuggestedPrompts show the same
list; unset keeps the template's (the function's defaults).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from infra.slack_scopes import EVENT_SCOPES

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "slack_manifest.yaml"
OAUTH_REDIRECT_PATH = "/slack/oauth_redirect"  # a route of the function (function/teambot/install/routes.py)
INSTALL_PATH = "/slack/install"
# Channel message events, requested only when a channel profile answers every message
# (CHANNEL_PROFILES answer_every_message): otherwise the app would receive every message of
# every channel it is in, for nothing. Their scopes are in infra/slack_scopes.py EVENT_SCOPES.
EVERY_MESSAGE_EVENTS = ("message.channels", "message.groups")
# Slack's agent messaging experience (docs.slack.dev/ai/migrating-to-agent-messaging): new apps can
# only use features.agent_view; assistant_view (the AI panel) is being deprecated. Every variant
# (manual, stack-managed, Socket Mode) renders agent_view from the one template; a stack-managed
# app created with assistant_view is moved over by apps.manifest.update on the next `pulumi up`.
AGENT_VIEW = "agent_view"
AGENT_DESCRIPTION_LIMIT = 300  # features.agent_view.agent_description


def _prompts_module():
    """The function's own parser of suggested prompts (teambot.core.suggested_prompts, standard library only)."""
    from teambot.core import suggested_prompts

    return suggested_prompts


def manifest_dict(
    template: str,
    *,
    function_url: str | None,
    bot_name: str,
    redirect_url: str | None = None,
    suggested_prompts: str = "",
    socket_mode: bool = False,
    every_message: bool = False,
) -> dict:
    """The manifest as a dict (what apps.manifest.create takes). With `redirect_url`, the app's
    OAuth redirect URL is set too (the stack-managed app installs through the function); with
    `every_message`, the channel message events (a channel profile answers every message)."""
    manifest = yaml.safe_load(template)
    manifest["display_information"]["name"] = bot_name
    manifest["features"]["bot_user"]["display_name"] = bot_name
    if suggested_prompts.strip():
        prompts = _prompts_module().suggested_prompts(suggested_prompts)
        manifest["features"][AGENT_VIEW]["suggested_prompts"] = [dict(p) for p in prompts]
    settings = manifest["settings"]
    if socket_mode:
        settings["socket_mode_enabled"] = True
        settings["event_subscriptions"].pop("request_url", None)
        settings["interactivity"].pop("request_url", None)
    else:
        if not function_url:
            raise ValueError("the HTTP manifest needs the function URL")
        settings["event_subscriptions"]["request_url"] = function_url
        settings["interactivity"]["request_url"] = function_url
    if redirect_url:
        manifest["oauth_config"]["redirect_urls"] = [redirect_url]
    if every_message:
        events, scopes = settings["event_subscriptions"]["bot_events"], manifest["oauth_config"]["scopes"]["bot"]
        for event in EVERY_MESSAGE_EVENTS:
            if event not in events:
                events.append(event)
            scopes.extend(s for s in EVENT_SCOPES[event] if s not in scopes)
    return manifest


def render(template: str, **options) -> str:
    """The manifest as YAML; options as manifest_dict's."""
    return yaml.safe_dump(manifest_dict(template, **options), sort_keys=False, allow_unicode=True)


def bot_scopes(manifest: dict) -> str:
    """Comma-separated, as /oauth/v2/authorize takes them (env SLACK_BOT_SCOPES)."""
    return ",".join(manifest["oauth_config"]["scopes"]["bot"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.manifest")
    parser.add_argument("function_url", nargs="?")
    parser.add_argument("--bot-name", default="TeamBot")
    parser.add_argument("--suggested-prompts", default="", help="JSON list, as Pulumi config suggestedPrompts")
    parser.add_argument("--every-message", action="store_true", help="a channel profile has answer_every_message")
    parser.add_argument("--socket-mode", action="store_true", help="the Socket Mode variant (make dev)")
    args = parser.parse_args(argv)
    if not args.socket_mode and not args.function_url:
        parser.error("give the function URL, or --socket-mode")
    sys.stdout.write(
        render(
            TEMPLATE.read_text(),
            function_url=args.function_url,
            bot_name=args.bot_name,
            suggested_prompts=args.suggested_prompts,
            socket_mode=args.socket_mode,
            every_message=args.every_message,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
