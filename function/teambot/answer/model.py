"""The model, through the openai SDK (any OpenAI-compatible endpoint via OPENAI_BASE_URL).

Imported by the worker only: `import openai` costs most of a second and never sits on the ack
path. A 401 re-reads OPENAI_API_KEY once and retries once (key rotation without a restart).
Closing a `ModelStream` closes the HTTP response, which is what stops billing on "stop".

Why one module of ~310 lines: both APIs (chat completions and Responses) behind one ModelOps,
with the key rotation, timeouts and stop semantics they must share exactly.
"""

from __future__ import annotations

import socket
import threading

import openai

from teambot.answer.responses_stream import ResponsesParser
from teambot.answer.tools import ToolSecrets, tools_for
from teambot.core import logs
from teambot.core.errors import ModelError, ModelStreamUnreadable, SecretUnavailable
from teambot.core.settings import Settings
from teambot.gcp.secret_store import SecretStore, is_placeholder

API_KEY = "OPENAI_API_KEY"


# The HTTP stack under the SDK (httpx / httpx2 and their cores): its errors while reading are a
# broken connection. Named by module, so no version of the stack has to be imported here.
_TRANSPORT_MODULES = ("httpx", "httpx2", "httpcore", "httpcore2", "h11", "h2", "anyio", "ssl")


def _transport_module(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in _TRANSPORT_MODULES


def explain(exc: BaseException) -> ModelError:
    if isinstance(exc, ModelError):
        return exc
    if isinstance(exc, SecretUnavailable):
        return ModelError(
            "The OpenAI key can't be read from Secret Manager right now. An admin should check the logs.", "secret_unavailable"
        )
    if isinstance(exc, openai.AuthenticationError):
        return ModelError("The model provider refused the API key (401). An admin should check the OpenAI key.", "auth")
    if isinstance(exc, openai.RateLimitError):
        return ModelError("The model provider is rate-limiting us (429). Please try again in a minute.", "rate_limited")
    if isinstance(exc, openai.APITimeoutError):
        return ModelError("The model stopped responding (timeout). Please try again.", "timeout")
    if isinstance(exc, openai.APIStatusError):
        return ModelError(f"The model provider returned an error ({exc.status_code}). Please try again.", "upstream_error")
    if isinstance(exc, openai.APIConnectionError):
        return ModelError("The connection to the model provider failed. Please try again.", "connection")
    if "timeout" in type(exc).__name__.lower():
        return ModelError("The model stopped responding (timeout). Please try again.", "timeout")
    if isinstance(exc, openai.APIError):  # an `error` event inside the stream
        return ModelError("The model provider reported an error mid-answer. Please try again.", "upstream_error")
    if isinstance(exc, OSError) or _transport_module(exc):  # the connection broke mid-stream
        return ModelError("The model's answer was cut off by a connection error. Please try again.", "stream_cut")
    # Anything else is a frame nothing here could read (or a bug): not "a connection error".
    return ModelStreamUnreadable(logs.exception("model_stream_unreadable", exc))


def _shutdown(stream) -> bool:
    """Wake a reader blocked on the stream's socket and send the FIN now: on Linux, closing a
    socket another thread is reading from waits for that read (e.g. while a hosted tool runs and
    no byte comes), so the provider would go on generating. Best effort: False if there is no
    socket to shut (HTTP/2, a test double, already gone)."""
    try:
        sock = stream.response.extensions["network_stream"].get_extra_info("socket")
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
            return True
    except Exception:
        pass
    return False


def _close_from_any_thread(model_stream) -> None:
    """A stop: mark the stream closed on purpose (the reader then ends quietly). From another
    thread than the reader's, only shut the socket: that wakes the reader and tells the provider at
    once, and the reader closes the SDK stream itself when it wakes (`_read`). Closing it from here
    as well raced the reader: seen end to end, a reader left blocked in recv after the stop
    (tests/e2e/test_steps_e2e.py). Without a socket to shut, or from the reader's own thread, close."""
    model_stream._closed.set()
    reader = model_stream._reader
    if reader is not None and reader != threading.get_ident() and _shutdown(model_stream._stream):
        return
    _quiet_close(model_stream._stream)


def _quiet_close(stream) -> None:
    try:
        stream.close()
    except Exception:
        pass  # racing a reader that is already gone: the connection is closed either way


def _read(model_stream):
    """Iterate `model_stream._iterate()`, recording the reading thread for `close()`."""
    model_stream._reader = threading.get_ident()
    try:
        yield from model_stream._iterate()
    finally:
        model_stream._reader = None
        if model_stream._closed.is_set():
            _quiet_close(model_stream._stream)


class ModelStream:
    """Iterates text deltas; records usage and whether the model finished properly.

    The chunks are the SDK's decoded SSE events as plain dicts (`cast_to=object`): building a
    pydantic ChatCompletionChunk per token was most of an answer's CPU, and that CPU is the GIL
    the acks of the same instance wait for (BENCHMARKS.md, busy hour)."""

    def __init__(self, stream):
        self._stream = stream
        self.usage: dict | None = None
        self.finish_reason: str | None = None
        self._closed = threading.Event()
        self._reader: int | None = None  # the thread iterating, while it iterates

    def __iter__(self):
        return _read(self)

    def _iterate(self):
        try:
            for chunk in self._stream:
                usage = chunk.get("usage")
                if usage:
                    self.usage = {
                        "prompt_tokens": usage.get("prompt_tokens"),
                        "completion_tokens": usage.get("completion_tokens"),
                    }
                for choice in chunk.get("choices") or ():
                    if choice.get("finish_reason"):
                        self.finish_reason = choice["finish_reason"]
                    content = (choice.get("delta") or {}).get("content")
                    if content:
                        yield content
        except Exception as exc:
            if self._closed.is_set():
                return  # closed on purpose (stop) from another thread
            raise explain(exc) from None
        if self.finish_reason is None and not self._closed.is_set():
            raise ModelError("The model's answer was cut off before it finished. Please try again.", "stream_cut")

    def close(self) -> None:
        _close_from_any_thread(self)


class ResponsesModelStream:
    """The Responses API twin of ModelStream: yields text deltas and thinking steps (Step); after
    the stream, `usage`, `finish_reason`, `response_id`, `tool_calls` and `approvals` (the
    mcp_approval_request items waiting for a person) are read off it."""

    def __init__(self, stream):
        self._stream = stream
        self.parser = ResponsesParser()
        self._closed = threading.Event()
        self._reader: int | None = None  # the thread iterating, while it iterates

    usage = property(lambda self: self.parser.usage)
    finish_reason = property(lambda self: self.parser.finish_reason)
    response_id = property(lambda self: self.parser.response_id)
    tool_calls = property(lambda self: self.parser.tool_calls)
    approvals = property(lambda self: self.parser.approvals)

    def __iter__(self):
        return _read(self)

    def _iterate(self):
        try:
            for event in self._stream:
                if isinstance(event, dict):
                    yield from self.parser.feed(event)
        except ModelError:
            if self._closed.is_set():
                return
            raise
        except Exception as exc:
            if self._closed.is_set():
                return  # closed on purpose (stop) from another thread
            raise explain(exc) from None
        if self.parser.finish_reason is None and not self._closed.is_set():
            raise ModelError("The model's answer was cut off before it finished. Please try again.", "stream_cut")

    def close(self) -> None:
        _close_from_any_thread(self)


def responses_input(messages: list[dict]) -> tuple[str | None, list[dict]]:
    """Chat-completions messages -> (instructions, Responses API input items): system messages
    become the instructions; text / image_url content parts become input_text / input_image."""
    instructions, items = [], []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            instructions.append(
                content
                if isinstance(content, str)
                else "\n".join(p.get("text", "") for p in content or () if p.get("type") == "text")
            )
            continue
        if isinstance(content, list):
            if role == "assistant":
                content = "".join(p.get("text", "") for p in content if p.get("type") == "text")
            else:
                content = [_input_part(part) for part in content]
        items.append({"role": role, "content": content or ""})
    return ("\n\n".join(i for i in instructions if i) or None), items


def _input_part(part: dict) -> dict:
    if part.get("type") == "image_url":
        image = part.get("image_url") or {}
        return {"type": "input_image", "image_url": image.get("url", ""), "detail": image.get("detail") or "auto"}
    if part.get("type") == "text":
        return {"type": "input_text", "text": part.get("text", "")}
    return part


class ModelOps:
    def __init__(self, settings: Settings, secrets: SecretStore):
        self._settings = settings
        self._secrets = secrets
        self._client: openai.OpenAI | None = None
        self._client_key: str | None = None
        self._lock = threading.Lock()
        self._tool_secrets = ToolSecrets(settings)

    @property
    def api(self) -> str:
        """OPENAI_API: "responses" or "chat_completions"."""
        return getattr(self._settings, "openai_api", "") or (
            "chat_completions" if self._settings.openai_base_url else "responses"
        )

    def _openai(self) -> openai.OpenAI:
        key = self._secrets.get(API_KEY)
        if is_placeholder(key):
            raise ModelError("No OpenAI API key is configured yet. An admin should set it (see README).", "no_key")
        with self._lock:
            if self._client is None or key != self._client_key:
                self._client = openai.OpenAI(
                    api_key=key,
                    base_url=self._settings.openai_base_url,  # None: the SDK reads OPENAI_BASE_URL or uses OpenAI
                    timeout=openai.Timeout(self._settings.model_timeout_s, connect=10.0),
                    max_retries=2,
                )
                self._client_key = key
            return self._client

    def _create(self, messages: list[dict], overrides: dict):
        max_tokens = overrides.get("max_answer_tokens") or self._settings.max_answer_tokens
        extra = {"max_completion_tokens": max_tokens} if max_tokens else {}
        if overrides.get("reasoning_effort"):
            extra["reasoning_effort"] = overrides["reasoning_effort"]
        # chat.completions.create's own request, through the client's documented `post` (same
        # auth, base URL, retries, status errors, SSE decoding), with chunks left as dicts: a
        # pydantic object per token was most of an answer's CPU, taken from the acks beside it.
        body = {
            "model": overrides.get("model") or self._settings.openai_model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            **extra,
        }
        return self._openai().post("/chat/completions", body=body, cast_to=object, stream=True, stream_cls=openai.Stream[object])

    def _respond(self, messages: list[dict], overrides: dict, tools: list[dict], continuation: dict | None):
        """responses.create(stream=True)'s own request, through the client's `post`, events as dicts."""
        body: dict = {"model": overrides.get("model") or self._settings.openai_model, "stream": True}
        instructions, items = responses_input(messages)
        if continuation:  # resuming a response chain (an MCP approval): only the new input items;
            # instructions and tools are not carried over by previous_response_id, so sent again
            body["previous_response_id"] = continuation["previous_response_id"]
            body["input"] = continuation["input"]
        else:
            body["input"] = items
        if instructions:
            body["instructions"] = instructions
        if tools:
            body["tools"] = tools
        max_tokens = overrides.get("max_answer_tokens") or self._settings.max_answer_tokens
        if max_tokens:
            body["max_output_tokens"] = max_tokens
        if overrides.get("reasoning_effort"):
            body["reasoning"] = {"effort": overrides["reasoning_effort"]}
        return self._openai().post("/responses", body=body, cast_to=object, stream=True, stream_cls=openai.Stream[object])

    def tools(self, job) -> list[dict]:
        """The hosted tools of `job`'s channel (model_tools.py), Responses API only."""
        if self.api != "responses" or job is None:
            return []
        try:
            return tools_for(self._settings, self._settings.profile(job.channel), job, self._tool_secrets)
        except SecretUnavailable:
            raise ModelError(
                "A tool's authorization can't be read from Secret Manager right now. An admin should check the logs.",
                "secret_unavailable",
            ) from None

    def stream(
        self,
        messages: list[dict],
        *,
        model: str | None = None,
        max_answer_tokens: int | None = None,
        reasoning_effort: str | None = None,
        job=None,
        continuation: dict | None = None,
    ) -> "ModelStream | ResponsesModelStream":
        """Per-call overrides (a channel profile's) replace OPENAI_MODEL / MAX_ANSWER_TOKENS.
        `job`: the answer's job, whose channel decides the hosted tools (Responses API);
        `continuation`: {previous_response_id, input} to resume a response chain."""
        overrides = {"model": model, "max_answer_tokens": max_answer_tokens, "reasoning_effort": reasoning_effort}
        if self.api == "responses":
            tools = self.tools(job)

            def create():
                return ResponsesModelStream(self._respond(messages, overrides, tools, continuation))
        else:

            def create():
                return ModelStream(self._create(messages, overrides))

        try:
            try:
                return create()
            except openai.AuthenticationError:
                if not self._secrets.refresh(API_KEY):
                    raise
                return create()  # the key was rotated: once more
        except Exception as exc:
            raise explain(exc) from None
