"""A fake OpenAI-compatible /v1/chat/completions and /v1/responses that stream SSE like the real ones.

Per request it follows a `Plan`: the tokens, the delay between them, and an optional failure
(401, 429, 500, a stream cut mid-way, a stall). It records what it was asked and whether the
client hung up before the end (which is what "stop" must cause)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from .openai_files_api import OpenAIFilesApi
from .server import LoopbackServer


@dataclass
class Plan:
    tokens: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " model", "."])
    delay_s: float = 0.0
    fail: str | None = None  # "401" | "429" | "500" | "cut" | "stall"
    fail_after: int = 0  # for cut/stall: tokens sent first
    # Responses API only: output items streamed before the message (web_search_call, mcp_call,
    # mcp_list_tools, mcp_approval_request: build them with the helpers below), the message's
    # url_citation annotations, and a pause before each item's end (to stop mid-tool-call).
    items: list[dict] = field(default_factory=list)
    citations: list[dict] = field(default_factory=list)
    item_delay_s: float = 0.0

    @property
    def text(self) -> str:
        return "".join(self.tokens)


def words(text: str) -> list[str]:
    out = []
    for i, w in enumerate(text.split(" ")):
        out.append(w if i == 0 else " " + w)
    return out


@dataclass
class Seen:
    """One model request as the fake saw it. `ended_at` is set before `finished` or `hung_up`: a
    test that waited for either flag can read it at once."""

    body: dict
    key: str
    tokens_sent: int = 0
    finished: bool = False
    hung_up: bool = False
    ended_at: float = 0.0
    first_token_at: float = 0.0
    response_id: str = ""

    @property
    def messages(self) -> list[dict]:
        """The request as chat-completions messages, whichever API it used."""
        return self.body["messages"] if "messages" in self.body else chat_messages(self.body)


def chat_messages(body: dict) -> list[dict]:
    """A Responses API request body -> the chat-completions messages it stands for (instructions
    -> system; input_text / input_image parts -> text / image_url), for tests on both APIs."""
    out = [{"role": "system", "content": body["instructions"]}] if body.get("instructions") else []
    items = body.get("input") or []
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items:
        if "role" not in item:
            out.append(item)  # e.g. mcp_approval_response
            continue
        content = item.get("content")
        if isinstance(content, list):
            parts = []
            for part in content:
                if part.get("type") == "input_text":
                    parts.append({"type": "text", "text": part["text"]})
                elif part.get("type") == "input_image":
                    parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
                else:
                    parts.append(part)
            content = parts
        out.append({"role": item["role"], "content": content})
    return out


# -- Responses API output items (openai/types/responses/response_output_item.py) ----------------
def web_search(query: str, *, id: str = "ws_1", status: str = "completed") -> dict:
    return {"id": id, "type": "web_search_call", "status": status, "action": {"type": "search", "query": query, "sources": None}}


def mcp_list_tools(server_label: str, tools: list[str], *, id: str = "mcpl_1", error: str | None = None) -> dict:
    return {
        "id": id,
        "type": "mcp_list_tools",
        "server_label": server_label,
        "error": error,
        "tools": [{"name": t, "input_schema": {"type": "object"}, "description": None, "annotations": None} for t in tools],
    }


def mcp_call(
    name: str,
    arguments: dict,
    *,
    server_label: str = "tools",
    id: str = "mcp_1",
    output: str | None = "ok",
    error: dict | None = None,
    approval_request_id: str | None = None,
) -> dict:
    return {
        "id": id,
        "type": "mcp_call",
        "name": name,
        "arguments": json.dumps(arguments),
        "server_label": server_label,
        "output": None if error else output,
        "error": error,
        "approval_request_id": approval_request_id,
        "status": "failed" if error else "completed",
    }


def mcp_approval_request(name: str, arguments: dict, *, server_label: str = "tools", id: str = "mcpr_1") -> dict:
    return {
        "id": id,
        "type": "mcp_approval_request",
        "name": name,
        "arguments": json.dumps(arguments),
        "server_label": server_label,
    }


def url_citation(url: str, title: str, start: int = 0, end: int = 0) -> dict:
    return {"type": "url_citation", "url": url, "title": title, "start_index": start, "end_index": end}


def _wait_or_hang_up(req, seconds: float) -> bool:
    """Sleep up to `seconds`, in small steps; True as soon as the client has closed the connection
    (a readable socket with nothing to read = EOF), as a server notices a gone client."""
    import select
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        readable, _, _ = select.select([req.connection], [], [], min(0.05, max(0.0, deadline - time.monotonic())))
        if readable:
            try:
                if req.connection.recv(1, socket.MSG_PEEK) == b"":
                    return True
            except OSError:
                return True
    return False


# The events each item type streams between output_item.added and .done (the SDK's event types:
# response_web_search_call_*_event.py, response_mcp_call_*_event.py, response_mcp_list_tools_*_event.py).
# Item kinds with a `.failed` streaming event (openai SDK types/responses/: response_mcp_call_failed_event.py,
# response_mcp_list_tools_failed_event.py; web_search_call, file_search_call and code_interpreter_call have none).
FAILED_EVENTS = frozenset({"mcp_call", "mcp_list_tools"})
ITEM_EVENTS = {
    "web_search_call": (
        "response.web_search_call.in_progress",
        "response.web_search_call.searching",
        "response.web_search_call.completed",
    ),
    "mcp_list_tools": ("response.mcp_list_tools.in_progress", "response.mcp_list_tools.completed"),
    "mcp_call": ("response.mcp_call.in_progress", "response.mcp_call.completed"),
    "mcp_approval_request": (),
    "file_search_call": (
        "response.file_search_call.in_progress",
        "response.file_search_call.searching",
        "response.file_search_call.completed",
    ),  # openai_files_api.file_search_call
    "code_interpreter_call": (
        "response.code_interpreter_call.in_progress",
        "response.code_interpreter_call.interpreting",
        "response.code_interpreter_call.completed",
    ),  # openai_files_api.code_interpreter_call
}


class FakeOpenAI(OpenAIFilesApi, LoopbackServer):
    def __init__(self, *, key="sk-test"):
        self.valid_keys = {key}
        self.plans: list[Plan] = []  # consumed in order; then default_plan
        self.default_plan = Plan()
        self.responder = None  # optional: request body -> Plan, after the queued plans
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self.responses: dict[str, list[dict]] = {}  # response id -> its output items (for previous_response_id)

    def next_plan(self, body: dict) -> Plan:
        with self.lock:
            if self.plans:
                return self.plans.pop(0)
        return self.responder(body) if self.responder else self.default_plan

    def handle(self, req, verb):
        if self.serve_files(req, verb):  # files, vector stores, container files (openai_files_api.py)
            return
        if verb == "GET" and req.path.endswith("/models"):  # what the rotation check calls
            key = (req.headers.get("Authorization") or "").removeprefix("Bearer ")
            if key not in self.valid_keys:
                return req.send_json(401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}})
            return req.send_json(
                200, {"object": "list", "data": [{"id": "test-model", "object": "model", "created": 0, "owned_by": "x"}]}
            )
        if verb == "POST" and req.path.endswith("/responses"):
            return self.handle_responses(req)
        if verb != "POST" or not req.path.endswith("/chat/completions"):
            return req.send_json(404, {"error": {"message": "not found"}})
        body = json.loads(req.body() or b"{}")
        key = (req.headers.get("Authorization") or "").removeprefix("Bearer ")
        seen = Seen(body=body, key=key)
        self.requests.append(seen)
        if key not in self.valid_keys:
            return req.send_json(
                401, {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}}
            )
        plan = self.next_plan(body)
        if plan.fail in ("429", "500"):
            return req.send_json(int(plan.fail), {"error": {"message": "upstream trouble", "type": "server_error"}})
        if plan.fail == "401":
            return req.send_json(401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}})
        req.send_response(200)
        req.send_header("Content-Type", "text/event-stream")
        req.send_header("Connection", "close")
        req.end_headers()
        req.close_connection = True
        model = body.get("model", "fake")

        def send(payload) -> None:
            req.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            req.wfile.flush()

        def chunk(delta, finish=None):
            return {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        try:
            send(chunk({"role": "assistant", "content": ""}))
            for i, token in enumerate(plan.tokens):
                if plan.fail in ("cut", "stall") and i == plan.fail_after:
                    if plan.fail == "stall":
                        time.sleep(plan.delay_s or 10.0)  # no bytes at all: the client's read timeout fires
                    seen.ended_at = time.monotonic()
                    return
                if plan.delay_s:
                    time.sleep(plan.delay_s)
                send(chunk({"content": token}))
                if i == 0:
                    seen.first_token_at = time.monotonic()
                seen.tokens_sent = i + 1
            send(chunk({}, "stop"))
            if (body.get("stream_options") or {}).get("include_usage"):
                send(
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion.chunk",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [],
                        "usage": {
                            "prompt_tokens": 42,
                            "completion_tokens": len(plan.tokens),
                            "total_tokens": 42 + len(plan.tokens),
                        },
                    }
                )
            seen.ended_at = time.monotonic()  # set before the flag a test waits for, as below
            seen.finished = True  # before the last frame: the client may act on it before this thread runs again
            req.wfile.write(b"data: [DONE]\n\n")
            req.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            seen.ended_at = time.monotonic()  # before hung_up: a test that saw hung_up reads ended_at next
            seen.finished, seen.hung_up = False, True

    # -- Responses API (POST /v1/responses, stream=true) ---------------------------------------
    # Event and object shapes: openai/types/responses/response_stream_event.py and response.py of
    # the installed SDK (3.51); https://platform.openai.com/docs/api-reference/responses-streaming
    def handle_responses(self, req):
        body = json.loads(req.body() or b"{}")
        key = (req.headers.get("Authorization") or "").removeprefix("Bearer ")
        seen = Seen(body=body, key=key)
        self.requests.append(seen)
        if key not in self.valid_keys:
            return req.send_json(
                401, {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}}
            )
        previous = body.get("previous_response_id")
        if previous is not None:
            if previous not in self.responses:
                return req.send_json(
                    400,
                    {
                        "error": {
                            "message": "Previous response not found.",
                            "type": "invalid_request_error",
                            "param": "previous_response_id",
                            "code": "previous_response_not_found",
                        }
                    },
                )
            asked = {i["id"] for i in self.responses[previous] if i.get("type") == "mcp_approval_request"}
            for item in body.get("input") or []:
                if (
                    isinstance(item, dict)
                    and item.get("type") == "mcp_approval_response"
                    and item.get("approval_request_id") not in asked
                ):
                    return req.send_json(
                        400,
                        {
                            "error": {
                                "message": "Unknown approval_request_id.",
                                "type": "invalid_request_error",
                                "param": "input",
                                "code": None,
                            }
                        },
                    )
        plan = self.next_plan(body)
        if plan.fail in ("429", "500"):
            return req.send_json(int(plan.fail), {"error": {"message": "upstream trouble", "type": "server_error"}})
        if plan.fail == "401":
            return req.send_json(401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}})
        with self.lock:
            response_id = f"resp_{len(self.requests)}_{int(time.time() * 1000)}"
        seen.response_id = response_id
        req.send_response(200)
        req.send_header("Content-Type", "text/event-stream")
        req.send_header("Connection", "close")
        req.end_headers()
        req.close_connection = True
        model = body.get("model", "fake")
        sequence = iter(range(1_000_000))

        def send(kind: str, **fields) -> None:
            payload = {"type": kind, "sequence_number": next(sequence), **fields}
            req.wfile.write(f"event: {kind}\ndata: {json.dumps(payload)}\n\n".encode())
            req.wfile.flush()

        def response(status: str, output: list, usage=None) -> dict:
            return {
                "id": response_id,
                "object": "response",
                "created_at": int(time.time()),
                "model": model,
                "status": status,
                "output": output,
                "error": None,
                "incomplete_details": None,
                "instructions": body.get("instructions"),
                "metadata": {},
                "parallel_tool_calls": True,
                "temperature": 1.0,
                "top_p": 1.0,
                "tool_choice": "auto",
                "tools": body.get("tools") or [],
                "previous_response_id": previous,
                "usage": usage,
            }

        output: list[dict] = []
        try:
            send("response.created", response=response("in_progress", []))
            send("response.in_progress", response=response("in_progress", []))
            for item in plan.items:
                index = len(output)
                started = (
                    {**item, "status": "in_progress"}
                    if item["type"] in ("web_search_call", "mcp_call", "file_search_call", "code_interpreter_call")
                    else item
                )
                if item["type"] == "mcp_call":
                    started = {**started, "output": None, "error": None}
                if item["type"] == "mcp_list_tools":
                    started = {**item, "tools": []}
                send("response.output_item.added", output_index=index, item=started)
                for kind in ITEM_EVENTS.get(item["type"], ()):
                    failed = kind.endswith(".completed") and item.get("status") == "failed"
                    if kind.endswith(".completed"):
                        if plan.item_delay_s and _wait_or_hang_up(req, plan.item_delay_s):
                            seen.ended_at = time.monotonic()  # before hung_up, which a test waits for
                            seen.hung_up = True  # the client closed the stream while the tool ran
                            return
                    if failed and item["type"] not in FAILED_EVENTS:
                        continue  # no such event: the failure is the item's status in output_item.done
                    send(kind.removesuffix(".completed") + ".failed" if failed else kind, item_id=item["id"], output_index=index)
                send("response.output_item.done", output_index=index, item=item)
                output.append(item)
            text = ""
            if plan.tokens:
                index, msg_id = len(output), f"msg_{response_id}"
                send(
                    "response.output_item.added",
                    output_index=index,
                    item={"id": msg_id, "type": "message", "role": "assistant", "status": "in_progress", "content": []},
                )
                send(
                    "response.content_part.added",
                    item_id=msg_id,
                    output_index=index,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
                )
                for i, token in enumerate(plan.tokens):
                    if plan.fail in ("cut", "stall") and i == plan.fail_after:
                        if plan.fail == "stall":
                            time.sleep(plan.delay_s or 10.0)
                        seen.ended_at = time.monotonic()
                        return
                    if plan.delay_s:
                        time.sleep(plan.delay_s)
                    send(
                        "response.output_text.delta",
                        item_id=msg_id,
                        output_index=index,
                        content_index=0,
                        delta=token,
                        logprobs=[],
                    )
                    text += token
                    if i == 0:
                        seen.first_token_at = time.monotonic()
                    seen.tokens_sent = i + 1
                for n, annotation in enumerate(plan.citations):
                    send(
                        "response.output_text.annotation.added",
                        item_id=msg_id,
                        output_index=index,
                        content_index=0,
                        annotation_index=n,
                        annotation=annotation,
                    )
                part = {"type": "output_text", "text": text, "annotations": plan.citations, "logprobs": []}
                send("response.output_text.done", item_id=msg_id, output_index=index, content_index=0, text=text, logprobs=[])
                send("response.content_part.done", item_id=msg_id, output_index=index, content_index=0, part=part)
                message = {"id": msg_id, "type": "message", "role": "assistant", "status": "completed", "content": [part]}
                send("response.output_item.done", output_index=index, item=message)
                output.append(message)
            usage = {
                "input_tokens": 42,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": len(plan.tokens),
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 42 + len(plan.tokens),
            }
            self.responses[response_id] = output
            seen.ended_at = time.monotonic()  # set before the flag a test waits for, as below
            seen.finished = True  # before the last event: the client may act on it before this thread runs again
            send("response.completed", response=response("completed", output, usage))
        except (BrokenPipeError, ConnectionResetError):
            seen.ended_at = time.monotonic()  # before hung_up: a test that saw hung_up reads ended_at next
            seen.finished, seen.hung_up = False, True


class BrokenFrameOpenAI(FakeOpenAI):
    """Streams one good chunk, then a frame no parser reads (`frame`), then ends properly. An SSE
    `data:` line is JSON in OpenAI's streaming format (platform.openai.com/docs/api-reference/
    chat-streaming); this one is not, or is JSON of the wrong shape."""

    frame = b"data: {this is not json\n\n"

    def handle(self, req, verb):
        if verb != "POST":
            return super().handle(req, verb)
        self.requests.append(req.body())
        req.send_response(200)
        req.send_header("Content-Type", "text/event-stream")
        req.send_header("Connection", "close")
        req.end_headers()
        req.close_connection = True
        good = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}],
        }
        req.wfile.write(f"data: {json.dumps(good)}\n\n".encode())
        req.wfile.write(self.frame)
        req.wfile.write(b"data: [DONE]\n\n")
        req.wfile.flush()
