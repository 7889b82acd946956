"""The Responses API's streaming events -> what the answer loop consumes: text deltas (str) and
thinking steps (steps.Step), plus usage, the response id, tool calls and pending approvals.

Events are the SDK's decoded SSE payloads as plain dicts (openai/types/responses/*_event.py give
their shapes: `response.output_text.delta`, `response.output_item.added/done`,
`response.output_text.annotation.added`, `response.completed`, `response.failed`, `error` ...).
Standard library only; openai_ops.py wraps it with the SDK's error mapping.

Extension points for other hosted tools (file_search, code_interpreter):
  * `@on_item("file_search_call")`: fn(parser, item, done) -> iterable of Step | str, called on
    `response.output_item.added` (done=False) and `.done` (done=True) of that item type;
  * `@on_event("response.file_search_call.searching")`: fn(parser, event) -> iterable, any event.
`parser.count_tool_call(kind)` counts a call for the usage ledger; `parser.citations` collects
the answer's sources (citations.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator

from teambot.answer.citations import Citations
from teambot.core.errors import ModelError
from teambot.core.steps import COMPLETE, ERROR, IN_PROGRESS, PENDING, Step

ItemHook = Callable[["ResponsesParser", dict, bool], Iterable]
EventHook = Callable[["ResponsesParser", dict], Iterable]
ITEM_HOOKS: dict[str, ItemHook] = {}
EVENT_HOOKS: dict[str, EventHook] = {}
# Characters of a query or tool arguments shown in a step: within the 256 that one SDK documents for a
# task_update chunk's details/output (microsoft Agents-for-js TaskUpdateChunk); Slack's own page names no limit.
MAX_DETAILS = 256


def on_item(item_type: str):
    def declare(fn: ItemHook) -> ItemHook:
        ITEM_HOOKS[item_type] = fn
        return fn

    return declare


def on_event(*event_types: str):
    def declare(fn: EventHook) -> EventHook:
        for event_type in event_types:
            EVENT_HOOKS[event_type] = fn
        return fn

    return declare


def short(text: str, limit: int = MAX_DETAILS) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ResponsesParser:
    """Feed it events in order (`feed`); read the results off it once the stream ends."""

    def __init__(self):
        self.response_id: str | None = None
        self.usage: dict | None = None
        self.finish_reason: str | None = None
        self.citations = Citations()
        self.tool_calls: dict[str, int] = {}  # kind ("web_search", "mcp", ...) -> calls
        self.approvals: list[dict] = []  # mcp_approval_request items: id, name, server_label, arguments
        self.search_steps: dict[str, Step] = {}  # web search step id -> its last Step
        self.wrote_text = False

    def count_tool_call(self, kind: str) -> None:
        self.tool_calls[kind] = self.tool_calls.get(kind, 0) + 1

    def feed(self, event: dict) -> Iterator:
        kind = event.get("type") or ""
        hook = EVENT_HOOKS.get(kind)
        if hook is not None:
            yield from hook(self, event) or ()
            return
        if kind == "response.output_text.delta":
            delta = event.get("delta")
            if delta:
                self.wrote_text = True
                yield delta
        elif kind == "response.output_text.annotation.added":
            self.citations.add(event.get("annotation"))
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = event.get("item") or {}
            done = kind.endswith(".done")
            if done and item.get("type") == "message":
                for part in item.get("content") or ():
                    for annotation in part.get("annotations") or ():
                        self.citations.add(annotation)
            item_hook = ITEM_HOOKS.get(item.get("type") or "")
            if item_hook is not None:
                yield from item_hook(self, item, done) or ()
        elif kind == "response.created":
            self.response_id = (event.get("response") or {}).get("id") or self.response_id
        elif kind in ("response.completed", "response.incomplete"):
            response = event.get("response") or {}
            self.response_id = response.get("id") or self.response_id
            usage = response.get("usage") or {}
            if usage:
                self.usage = {"prompt_tokens": usage.get("input_tokens"), "completion_tokens": usage.get("output_tokens")}
            if kind == "response.completed":
                self.finish_reason = "stop"
            else:
                self.finish_reason = ((response.get("incomplete_details") or {}).get("reason")) or "incomplete"
            yield from self.closing_items()
        elif kind == "response.failed":
            error = (event.get("response") or {}).get("error") or {}
            raise ModelError(
                f"The model provider could not finish this answer ({short(error.get('code') or 'failed', 60)}). "
                "Please try again.",
                "upstream_error",
            )
        elif kind == "error":
            raise ModelError(
                f"The model provider reported an error ({short(event.get('code') or 'error', 60)}). Please try again.",
                "upstream_error",
            )

    def closing_items(self) -> Iterator:
        """After the response: the web search steps again with their sources, then the answer's
        "Sources" line (every url_citation, de-duplicated, in order of first use)."""
        sources = self.citations.sources()
        for step_id, step in self.search_steps.items():
            yield Step(step_id, step.title, step.status, step.details, step.output, sources)
        line = self.citations.sources_line()
        if line:
            yield line


# -- hosted web search ---------------------------------------------------------------------
def _search_query(item: dict) -> str:
    action = item.get("action") or {}
    if action.get("query"):
        return action["query"]
    if action.get("queries"):
        return "; ".join(q for q in action["queries"] if isinstance(q, str))
    return action.get("url") or ""


@on_item("web_search_call")
def _web_search(parser: ResponsesParser, item: dict, done: bool) -> Iterable:
    step_id = item.get("id") or "web_search"
    query = short(_search_query(item))
    if not done:
        step = Step(step_id, "Searching the web", IN_PROGRESS, details=query)
    else:
        parser.count_tool_call("web_search")
        failed = item.get("status") in ("failed", "incomplete")  # a search cut short found nothing to trust
        step = Step(
            step_id, "Searching the web", ERROR if failed else COMPLETE, details=query, output=item["status"] if failed else ""
        )
    parser.search_steps[step_id] = step
    return (step,)


# -- remote MCP tools ------------------------------------------------------------------------
@on_item("mcp_list_tools")
def _mcp_list_tools(parser: ResponsesParser, item: dict, done: bool) -> Iterable:
    label = item.get("server_label") or "?"
    title = f"Listing the tools of {label}"
    if not done:
        return (Step(item.get("id") or f"mcp_list_{label}", title, IN_PROGRESS),)
    if item.get("error"):
        return (Step(item.get("id") or f"mcp_list_{label}", title, ERROR, output=f"failed: {short(item['error'], 120)}"),)
    count = len(item.get("tools") or ())
    return (Step(item.get("id") or f"mcp_list_{label}", title, COMPLETE, output=f"{count} tool{'s' if count != 1 else ''}"),)


def mcp_error_text(error) -> str:
    if isinstance(error, dict):
        return short(error.get("message") or error.get("type") or "error", 120)
    return short(error or "error", 120)


@on_item("mcp_call")
def _mcp_call(parser: ResponsesParser, item: dict, done: bool) -> Iterable:
    title = f"Calling {item.get('name') or 'a tool'} on {item.get('server_label') or '?'}"
    details = short(item.get("arguments") or "")
    step_id = item.get("id") or "mcp_call"
    if not done:
        return (Step(step_id, title, IN_PROGRESS, details=details),)
    parser.count_tool_call("mcp")
    if item.get("error") or item.get("status") in ("failed", "incomplete"):
        return (Step(step_id, title, ERROR, details=details, output=f"failed: {mcp_error_text(item.get('error'))}"),)
    return (Step(step_id, title, COMPLETE, details=details, output="done"),)


@on_item("mcp_approval_request")
def _mcp_approval(parser: ResponsesParser, item: dict, done: bool) -> Iterable:
    if not done:
        return ()
    parser.approvals.append(
        {
            "id": item.get("id") or "",
            "name": item.get("name") or "",
            "server_label": item.get("server_label") or "",
            "arguments": item.get("arguments") or "",
        }
    )
    return (
        Step(
            item.get("id") or "mcp_approval",
            f"Waiting for approval to call {item.get('name') or 'a tool'}",
            PENDING,
            details=short(item.get("arguments") or ""),
        ),
    )


def pretty_arguments(arguments: str, limit: int = 1500) -> str:
    """Tool arguments (a JSON string) for people: indented JSON, cut to `limit` characters."""
    try:
        text = json.dumps(json.loads(arguments), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        text = str(arguments or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"
