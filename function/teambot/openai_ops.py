"""The model, through the openai SDK (any OpenAI-compatible endpoint via OPENAI_BASE_URL).

Imported by the worker only: `import openai` costs most of a second and never sits on the ack
path. A 401 re-reads OPENAI_API_KEY once and retries once (key rotation without a restart).
Closing a `ModelStream` closes the HTTP response, which is what stops billing on "stop".
"""

from __future__ import annotations

import threading

import openai

from . import logs
from .env import Settings
from .errors import ModelError, ModelStreamUnreadable, SecretUnavailable
from .secret_store import SecretStore, is_placeholder

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
        return ModelError("The OpenAI key can't be read from Secret Manager right now. An admin should check the logs.", "secret_unavailable")
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

    def __iter__(self):
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
        self._closed.set()
        try:
            self._stream.close()
        except Exception:
            pass  # closing from another thread may race the reader; the connection is gone either way


class ModelOps:
    def __init__(self, settings: Settings, secrets: SecretStore):
        self._settings = settings
        self._secrets = secrets
        self._client: openai.OpenAI | None = None
        self._client_key: str | None = None
        self._lock = threading.Lock()

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
        body = {"model": overrides.get("model") or self._settings.openai_model, "messages": messages,
                "stream": True, "stream_options": {"include_usage": True}, **extra}
        return self._openai().post(
            "/chat/completions", body=body, cast_to=object, stream=True, stream_cls=openai.Stream[object])

    def stream(
        self, messages: list[dict], *, model: str | None = None, max_answer_tokens: int | None = None,
        reasoning_effort: str | None = None,
    ) -> ModelStream:
        """Per-call overrides (a channel profile's) replace OPENAI_MODEL / MAX_ANSWER_TOKENS."""
        overrides = {"model": model, "max_answer_tokens": max_answer_tokens, "reasoning_effort": reasoning_effort}
        try:
            try:
                return ModelStream(self._create(messages, overrides))
            except openai.AuthenticationError:
                if not self._secrets.refresh(API_KEY):
                    raise
                return ModelStream(self._create(messages, overrides))  # the key was rotated: once more
        except Exception as exc:
            raise explain(exc) from None
