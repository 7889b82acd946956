"""A fake OpenAI-compatible /v1/chat/completions that streams SSE like the real one.

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
    body: dict
    key: str
    tokens_sent: int = 0
    finished: bool = False
    hung_up: bool = False
    ended_at: float = 0.0
    first_token_at: float = 0.0


class FakeOpenAI(OpenAIFilesApi, LoopbackServer):
    def __init__(self, *, key="sk-test"):
        self.valid_keys = {key}
        self.plans: list[Plan] = []  # consumed in order; then default_plan
        self.default_plan = Plan()
        self.responder = None  # optional: request body -> Plan, after the queued plans
        self.requests: list[Seen] = []
        self.lock = threading.Lock()

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
            return req.send_json(200, {"object": "list", "data": [{"id": "test-model", "object": "model", "created": 0, "owned_by": "x"}]})
        if verb != "POST" or not req.path.endswith("/chat/completions"):
            return req.send_json(404, {"error": {"message": "not found"}})
        body = json.loads(req.body() or b"{}")
        key = (req.headers.get("Authorization") or "").removeprefix("Bearer ")
        seen = Seen(body=body, key=key)
        self.requests.append(seen)
        if key not in self.valid_keys:
            return req.send_json(401, {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}})
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
            return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

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
                send({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                      "model": model, "choices": [],
                      "usage": {"prompt_tokens": 42, "completion_tokens": len(plan.tokens), "total_tokens": 42 + len(plan.tokens)}})
            req.wfile.write(b"data: [DONE]\n\n")
            req.wfile.flush()
            seen.finished = True
        except (BrokenPipeError, ConnectionResetError):
            seen.hung_up = True
        seen.ended_at = time.monotonic()
