"""Per-channel profiles (CHANNEL_PROFILES / Pulumi config `channelProfiles`): pure parsing and
validation, standard library only.

A profile is a JSON object channel id -> {"instructions", "model", "max_answer_tokens",
"reasoning_effort", "answer_every_message", "translate_to", "file_search", "code_interpreter"}, every
key optional. Validation
names the channel and the key, so a bad profile fails when the config is loaded (Pulumi
preview, function start), never at the first message. infra/config.py loads this very file
(it has no imports from the function) so the deploy and the function share one validator.

CHANNEL_PROMPTS (the older, instructions-only setting) is merged in: a channel that appears only
there gets a profile with its instructions; when both name a channel and the profile has its own
`instructions`, the profile's win (it is the more specific, newer setting).
"""

from __future__ import annotations

import json
import re
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
    file_search: "FileSearch | None" = None  # the channel's documents (knowledge.py)
    code_interpreter: bool = False  # data analysis on the thread's files (code_files.py)


# -- the team's documents: `file_search: {"vector_store_ids": [...], "editors": [...]}` --------
FILE_SEARCH_KEYS = ("vector_store_ids", "editors")
VECTOR_STORE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")


@dataclass(frozen=True)
class FileSearch:
    vector_store_ids: tuple[str, ...] = ()  # OpenAI vector stores the answers search (besides the channel's own)
    editors: tuple[str, ...] = ()  # Slack user ids allowed to use "Add to knowledge" here


def _file_search(channel: str, key: str, value) -> FileSearch:
    where = f"channel profile {channel!r}: key {key!r}"
    if not isinstance(value, dict):
        raise ProfileError(f"{where} must be an object with keys {', '.join(FILE_SEARCH_KEYS)}")
    for name in value:
        if name not in FILE_SEARCH_KEYS:
            raise ProfileError(f"{where}: unknown key {name!r} (known: {', '.join(FILE_SEARCH_KEYS)})")
    ids = value.get("vector_store_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) and VECTOR_STORE_ID.match(i) for i in ids):
        raise ProfileError(f"{where}: vector_store_ids must be a list of OpenAI vector store ids (vs_...)")
    editors = value.get("editors", [])
    if not isinstance(editors, list) or not all(isinstance(u, str) and SLACK_USER_ID.match(u) for u in editors):
        raise ProfileError(f"{where}: editors must be a list of Slack user ids (U...)")
    return FileSearch(tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(editors)))


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
    "file_search": _file_search,
    "code_interpreter": _flag,
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
