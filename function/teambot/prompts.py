"""The instructions the model gets: the team's system prompt plus per-channel instructions."""

from __future__ import annotations

from .env import Settings


def instructions(settings: Settings, channel: str) -> str:
    extra = settings.channel_prompts.get(channel)
    if not extra:
        return settings.system_prompt
    return f"{settings.system_prompt}\n\nInstructions for this channel:\n{extra}"
