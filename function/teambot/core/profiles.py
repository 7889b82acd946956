"""Per-channel profiles (CHANNEL_PROFILES / Pulumi config `channelProfiles`): pure parsing and
validation, standard library only.

A profile is a JSON object channel id -> {"instructions", "model", "max_answer_tokens",
"reasoning_effort", "answer_every_message", "translate_to", "web_search", "mcp_servers", "file_search",
"code_interpreter"}, every
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
    web_search: bool | None = None  # None: WEB_SEARCH decides
    mcp_servers: tuple["McpServer", ...] | None = None  # None: MCP_SERVERS; a list replaces it
    file_search: "FileSearch | None" = None  # the channel's documents (knowledge.py)
    code_interpreter: bool = False  # data analysis on the thread's files (code_files.py)


# -- MCP servers (MCP_SERVERS / a profile's `mcp_servers`): the Responses API's own field names --
MCP_APPROVALS = ("always", "never")
MCP_KEYS = ("server_label", "server_url", "allowed_tools", "require_approval", "authorization_secret")
SECRET_VERSION = re.compile(r"^projects/[^/]+/secrets/[^/]+/versions/[^/]+$")


@dataclass(frozen=True)
class McpServer:
    server_label: str
    server_url: str
    allowed_tools: tuple[str, ...] | None = None
    require_approval: str = "always"
    authorization_secret: str | None = None  # a Secret Manager version name, never a token


def _mcp_server(where: str, entry) -> McpServer:
    if not isinstance(entry, dict):
        raise ProfileError(f"{where} must be an object with keys {', '.join(MCP_KEYS)}")
    for key in entry:
        if key not in MCP_KEYS:
            raise ProfileError(f"{where}: unknown key {key!r} (known: {', '.join(MCP_KEYS)})")
    label = entry.get("server_label")
    if not isinstance(label, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", label):
        raise ProfileError(f"{where}: server_label must be 1-64 letters, digits, '_' or '-'")
    url = entry.get("server_url")
    if not isinstance(url, str) or not url.startswith("https://"):
        raise ProfileError(f"{where}: server_url must be an https:// URL")
    tools = entry.get("allowed_tools")
    if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, str) and t for t in tools)):
        raise ProfileError(f"{where}: allowed_tools must be a list of tool names")
    approval = entry.get("require_approval", "always")
    if approval not in MCP_APPROVALS:
        raise ProfileError(f"{where}: require_approval must be always or never")
    secret = entry.get("authorization_secret")
    if secret is not None and (not isinstance(secret, str) or not SECRET_VERSION.match(secret)):
        raise ProfileError(
            f"{where}: authorization_secret must be a Secret Manager version name "
            "(projects/P/secrets/S/versions/V), never a literal token"
        )
    return McpServer(label, url, tuple(tools) if tools is not None else None, approval, secret)


def mcp_servers(value, *, where: str) -> tuple[McpServer, ...]:
    """A JSON list (already decoded) -> McpServer entries; labels must be unique."""
    if not isinstance(value, list):
        raise ProfileError(f"{where} must be a JSON list of MCP servers")
    servers = tuple(_mcp_server(f"{where}[{i}]", entry) for i, entry in enumerate(value))
    labels = [s.server_label for s in servers]
    if len(set(labels)) != len(labels):
        raise ProfileError(f"{where}: two servers share a server_label")
    return servers


def parse_mcp_servers(raw: str, *, source: str = "MCP_SERVERS") -> tuple[McpServer, ...]:
    """MCP_SERVERS text -> servers; bad JSON or a bad entry raises ProfileError naming `source`."""
    if not raw or not raw.strip():
        return ()
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ProfileError(f"{source} is not valid JSON ({exc.msg} at position {exc.pos})") from None
    return mcp_servers(value, where=source)


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


def _servers(channel: str, key: str, value) -> tuple[McpServer, ...]:
    return mcp_servers(value, where=f"channel profile {channel!r}: key {key!r}")


CHECKS = {
    "instructions": _text,
    "model": _text,
    "max_answer_tokens": _positive_int,
    "reasoning_effort": _effort,
    "answer_every_message": _flag,
    "translate_to": _text,
    "web_search": _flag,
    "mcp_servers": _servers,
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
