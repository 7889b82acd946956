"""Render slack_manifest.yaml (the template at the repo root) with the deployed URL. Pure.

`python -m infra.manifest https://REGION-PROJECT.cloudfunctions.net/NAME [--bot-name X]` prints
the rendered manifest (`make manifest` uses the stack output instead).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

TEMPLATE = Path(__file__).resolve().parents[1] / "slack_manifest.yaml"


def render(template: str, *, function_url: str, bot_name: str) -> str:
    manifest = yaml.safe_load(template)
    manifest["display_information"]["name"] = bot_name
    manifest["features"]["bot_user"]["display_name"] = bot_name
    settings = manifest["settings"]
    settings["event_subscriptions"]["request_url"] = function_url
    settings["interactivity"]["request_url"] = function_url
    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.manifest")
    parser.add_argument("function_url")
    parser.add_argument("--bot-name", default="TeamBot")
    args = parser.parse_args(argv)
    sys.stdout.write(render(TEMPLATE.read_text(), function_url=args.function_url, bot_name=args.bot_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
