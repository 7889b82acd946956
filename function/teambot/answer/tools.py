"""The hosted tools an answer may use on the Responses API: which ones, per channel.

`tools_for(settings, profile, job, secrets)` returns the Responses API `tools` list. Each entry
comes from a provider in `PROVIDERS` (an extension point: another capability adds its provider
with `@tool_provider`, e.g. file_search from a profile's vector store ids). A provider returns a
list of tool dicts (possibly empty) for one answer. Standard library only (no openai import):
the worker imports it; ingress never does.

Web search: WEB_SEARCH=on (or a profile's `web_search: true`; the profile wins) adds the hosted
`web_search` tool. MCP: MCP_SERVERS (or a profile's `mcp_servers`, which replaces the default)
become `mcp` tools with the Responses API's field names; an `authorization_secret` (a Secret
Manager version name) is read through a SecretStore and sent as the tool's `authorization`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from teambot.core.profiles import ChannelProfile, McpServer

if TYPE_CHECKING:
    from teambot.core.jobs import Job
    from teambot.core.settings import Settings

# (settings, profile, job, secrets) -> tool dicts; secrets: a `ToolSecrets` (or None in tests)
Provider = Callable[["Settings", ChannelProfile, "Job | None", "ToolSecrets | None"], list[dict]]
PROVIDERS: list[Provider] = []


def tool_provider(provider: Provider) -> Provider:
    """Declare a provider of hosted tools (kept in declaration order)."""
    PROVIDERS.append(provider)
    return provider


def tools_for(
    settings: "Settings", profile: ChannelProfile, job: "Job | None" = None, secrets: "ToolSecrets | None" = None
) -> list[dict]:
    tools: list[dict] = []
    for provider in PROVIDERS:
        tools.extend(provider(settings, profile, job, secrets))
    return tools


class ToolSecrets:
    """Secret Manager version names -> values, through the project's SecretStore (cached, TTL,
    rotation), created on first use so an answer without MCP secrets never touches it."""

    def __init__(self, settings: "Settings"):
        self._settings = settings
        self._store = None
        self._lock = threading.Lock()

    def get(self, ref: str) -> str:
        from teambot.gcp.secret_store import SecretStore

        with self._lock:
            if self._store is None:
                refs = {s.authorization_secret: s.authorization_secret for s in self._all_servers() if s.authorization_secret}
                self._store = SecretStore(
                    refs, ttl_s=self._settings.secret_ttl_s, endpoint=self._settings.secret_manager_endpoint
                )
        return self._store.get(ref)

    def _all_servers(self) -> list[McpServer]:
        servers = list(self._settings.mcp_servers)
        for profile in self._settings.channel_profiles.values():
            servers.extend(profile.mcp_servers or ())
        return servers


def web_search_enabled(settings: "Settings", profile: ChannelProfile) -> bool:
    return settings.web_search if profile.web_search is None else profile.web_search


def mcp_servers_for(settings: "Settings", profile: ChannelProfile) -> tuple[McpServer, ...]:
    return settings.mcp_servers if profile.mcp_servers is None else profile.mcp_servers


@tool_provider
def web_search_tool(settings, profile, job, secrets) -> list[dict]:
    return [{"type": "web_search"}] if web_search_enabled(settings, profile) else []


def mcp_tool(server: McpServer, secrets: "ToolSecrets | None") -> dict:
    tool = {
        "type": "mcp",
        "server_label": server.server_label,
        "server_url": server.server_url,
        "require_approval": server.require_approval,
    }
    if server.allowed_tools is not None:
        tool["allowed_tools"] = list(server.allowed_tools)
    if server.authorization_secret:
        if secrets is None:
            raise ValueError(f"MCP server {server.server_label!r} needs its authorization secret")
        tool["authorization"] = bare_token(secrets.get(server.authorization_secret))
    return tool


def bare_token(value: str) -> str:
    """The tool's `authorization` is the access token itself ("An OAuth access token", openai SDK
    types/responses/tool.py Mcp.authorization), which OpenAI sends to the server as a Bearer token;
    a secret stored as "Bearer <token>" would send the word twice."""
    value = value.strip()
    return value[7:].strip() if value[:7].lower() == "bearer " else value


@tool_provider
def mcp_tools(settings, profile, job, secrets) -> list[dict]:
    return [mcp_tool(server, secrets) for server in mcp_servers_for(settings, profile)]


# Providers (and stream hooks) of other capabilities register themselves when imported:
from teambot.answer import code_files, knowledge  # noqa: E402, F401  file_search, code_interpreter (issue 20)
