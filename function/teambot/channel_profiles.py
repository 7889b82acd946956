"""Per-channel profiles (CHANNEL_PROFILES / Pulumi config `channelProfiles`): pure parsing and
validation, standard library only.

A profile is a JSON object channel id -> {"instructions", "model", "max_answer_tokens",
"reasoning_effort", "answer_every_message", "translate_to"}, every key optional. Validation
names the channel and the key, so a bad profile fails when the config is loaded (Pulumi
preview, function start), never at the first message. infra/config.py loads this very file
(it has no imports from the function) so the deploy and the function share one validator.

CHANNEL_PROMPTS (the older, instructions-only setting) is merged in: a channel that appears only
there gets a profile with its instructions; when both name a channel and the profile has its own
`instructions`, the profile's win (it is the more specific, newer setting).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# What the openai SDK's ReasoningEffort literal accepts (openai/types/shared/reasoning_effort.py).
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


class ProfileError(ValueError):
    """A profile that can't be used; the message names the channel and the key."""


@dataclass(frozen=True)
class ChannelProfile:
    instructions: str | None = None
    model: str | None = None
    max_answer_tokens: int | None = None
    reasoning_effort: str | None = None
    answer_every_message: bool = False
    translate_to: str | None = None


def _text(channel: str, key: str, value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"channel profile {channel!r}: key {key!r} must be a non-empty string")
    return value


def _positive_int(channel: str, key: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ProfileError(f"channel profile {channel!r}: key {key!r} must be a positive integer")
    return value


def _effort(channel: str, key: str, value) -> str:
    if value not in REASONING_EFFORTS:
        raise ProfileError(f"channel profile {channel!r}: key {key!r} must be one of {', '.join(REASONING_EFFORTS)}")
    return value


def _flag(channel: str, key: str, value) -> bool:
    if not isinstance(value, bool):
        raise ProfileError(f"channel profile {channel!r}: key {key!r} must be true or false")
    return value


CHECKS = {
    "instructions": _text,
    "model": _text,
    "max_answer_tokens": _positive_int,
    "reasoning_effort": _effort,
    "answer_every_message": _flag,
    "translate_to": _text,
}


def parse_profiles(raw: str, *, source: str = "CHANNEL_PROFILES") -> dict[str, ChannelProfile]:
    """JSON text -> {channel id: ChannelProfile}; raises ProfileError naming channel and key."""
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ProfileError(f"{source} is not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(value, dict):
        raise ProfileError(f"{source} must be a JSON object of channel id -> profile")
    profiles = {}
    for channel, body in value.items():
        if not channel.strip():
            raise ProfileError(f"{source}: a channel id is empty")
        if not isinstance(body, dict):
            raise ProfileError(f"channel profile {channel!r} must be an object with keys {', '.join(CHECKS)}")
        for key in body:
            if key not in CHECKS:
                raise ProfileError(f"channel profile {channel!r}: unknown key {key!r} (known: {', '.join(CHECKS)})")
        profiles[channel] = ChannelProfile(**{key: CHECKS[key](channel, key, v) for key, v in body.items()})
    return profiles


def merge_prompts(profiles: dict[str, ChannelProfile], prompts: dict[str, str]) -> dict[str, ChannelProfile]:
    """CHANNEL_PROMPTS as instructions-only profiles; a profile's own instructions win."""
    merged = dict(profiles)
    for channel, text in prompts.items():
        profile = merged.get(channel, ChannelProfile())
        if not profile.instructions:
            merged[channel] = ChannelProfile(**{**profile.__dict__, "instructions": text})
    return merged


def answers_every_message(profiles: dict[str, ChannelProfile]) -> bool:
    """Whether the Slack app must subscribe to channel message events (message.channels/groups)."""
    return any(p.answer_every_message for p in profiles.values())
