"""Render slack_manifest.yaml (the template at the repo root) with the deployed URL. Pure.

`python -m infra.manifest https://REGION-PROJECT.cloudfunctions.net/NAME [--bot-name X]` prints
the rendered manifest (`make manifest` uses the stack output instead).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from infra.slack_scopes import EVENT_SCOPES

TEMPLATE = Path(__file__).resolve().parents[1] / "slack_manifest.yaml"


OAUTH_REDIRECT_PATH = "/slack/oauth_redirect"  # a route of the function (function/teambot/install.py)
INSTALL_PATH = "/slack/install"
# Channel message events, requested only when a channel profile answers every message
# (CHANNEL_PROFILES answer_every_message): otherwise the app would receive every message of
# every channel it is in, for nothing. Their scopes are in infra/slack_scopes.py EVENT_SCOPES.
EVERY_MESSAGE_EVENTS = ("message.channels", "message.groups")


def manifest_dict(
    template: str, *, function_url: str, bot_name: str, redirect_url: str | None = None, every_message: bool = False,
) -> dict:
    """The manifest as a dict (what apps.manifest.create takes). With `redirect_url`, the app's
    OAuth redirect URL is set too (the stack-managed app installs through the function); with
    `every_message`, the channel message events (a channel profile answers every message)."""
    manifest = yaml.safe_load(template)
    manifest["display_information"]["name"] = bot_name
    manifest["features"]["bot_user"]["display_name"] = bot_name
    settings = manifest["settings"]
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


def render(
    template: str, *, function_url: str, bot_name: str, redirect_url: str | None = None, every_message: bool = False,
) -> str:
    manifest = manifest_dict(template, function_url=function_url, bot_name=bot_name, redirect_url=redirect_url,
                             every_message=every_message)
    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)


def bot_scopes(manifest: dict) -> str:
    """Comma-separated, as /oauth/v2/authorize takes them (env SLACK_BOT_SCOPES)."""
    return ",".join(manifest["oauth_config"]["scopes"]["bot"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.manifest")
    parser.add_argument("function_url")
    parser.add_argument("--bot-name", default="TeamBot")
    parser.add_argument("--every-message", action="store_true", help="a channel profile has answer_every_message")
    args = parser.parse_args(argv)
    sys.stdout.write(render(TEMPLATE.read_text(), function_url=args.function_url, bot_name=args.bot_name,
                            every_message=args.every_message))
    return 0


if __name__ == "__main__":
    sys.exit(main())
