"""Stage: the model stream (teambot/answer/model.py, responses_stream.py, tools.py), in-process. The
real ModelOps drives the real openai SDK over loopback HTTP against the OpenAI fake
(tests/fakes/openai_api.py, `Plan`), on both APIs: chat completions and the Responses API
(OPENAI_API=responses, as tests/e2e/test_tools_both_apis.py switches it on). Started in this
process: the OpenAI fake (the `model` fixture, or a subclass of it here), and for the key rotation
the Secret Manager fake (tests/fakes/secret_manager.py), each a loopback server thread.

Covered: text deltas in order, usage figures, a hosted tool call's thinking steps
(teambot.core.steps.Step), 401 / 429 / 500 / a cut-off stream mapped to ModelError kinds with the
sentence the user reads, close() closing the HTTP stream (the fake sees the client hang up), and
the retry with a rotated OPENAI_API_KEY (teambot/gcp/secret_store.py)."""

from __future__ import annotations

import json
import threading

import pytest

from teambot.answer.model import ModelOps
from teambot.core.errors import ModelError
from teambot.core.jobs import Job
from teambot.core.settings import Settings
from teambot.core.steps import COMPLETE, IN_PROGRESS, Step
from teambot.gcp.secret_store import SecretStore
from tests.fakes.openai_api import FakeOpenAI, Plan, mcp_call, web_search, words
from tests.fakes.secret_manager import FakeSecretManager
from tests.harness import wait_for

APIS = ["chat_completions", "responses"]
JOB = Job(kind="answer", team="T1", channel="C1", user="U1", message_ts="1700000000.000100")
ASK = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is up?"}]


class RetryAfterOpenAI(FakeOpenAI):
    """The OpenAI fake, whose refusals carry `retry-after-ms`, as OpenAI's own 429s may: the SDK's
    two retries then wait 10 ms each, not its 0.5 s + 1 s backoff, and the test stays fast."""

    def handle(self, req, verb):
        send_json = req.send_json

        def with_retry_after(status, payload, headers=None):
            extra = {"retry-after-ms": "10"} if status in (429, 500) else {}
            return send_json(status, payload, {**(headers or {}), **extra})

        req.send_json = with_retry_after
        return super().handle(req, verb)


@pytest.fixture
def model():
    """Overrides conftest's `model`: the same fake, with retry-after on 429 / 500."""
    fake = RetryAfterOpenAI().start()
    yield fake
    fake.stop()


def ops(model, api: str, *, secrets: SecretStore | None = None, **env) -> ModelOps:
    settings = Settings.from_env({"OPENAI_BASE_URL": model.url + "/v1", "OPENAI_MODEL": "test-model", "OPENAI_API": api, **env})
    return ModelOps(settings, secrets or SecretStore({"OPENAI_API_KEY": "sk-test"}))


# -- text, usage, the request -----------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_text_deltas_arrive_in_order_with_the_usage(model, api):
    model.default_plan = Plan(tokens=words("Paris is the capital of France."))
    stream = ops(model, api).stream(ASK, job=JOB)
    assert list(stream) == words("Paris is the capital of France.")
    assert stream.usage == {"prompt_tokens": 42, "completion_tokens": 6}
    assert stream.finish_reason == "stop"
    [seen] = model.requests
    assert seen.key == "sk-test" and seen.body["model"] == "test-model" and seen.body["stream"] is True
    assert seen.messages == ASK  # the same conversation, in either API's shape
    if api == "responses":
        assert seen.body["instructions"] == "be brief" and "messages" not in seen.body
        assert stream.response_id == seen.response_id
    else:
        assert seen.body["stream_options"] == {"include_usage": True}  # else no usage figures


def test_a_channel_profiles_overrides_reach_the_request(model):
    stream = ops(model, "chat_completions").stream(ASK, model="gpt-other", max_answer_tokens=99, reasoning_effort="low")
    list(stream)
    body = model.requests[0].body
    assert (body["model"], body["max_completion_tokens"], body["reasoning_effort"]) == ("gpt-other", 99, "low")


# -- hosted tools (Responses API) --------------------------------------------------------------
def test_a_tool_call_is_yielded_as_thinking_steps_before_the_text(model):
    model.default_plan = Plan(tokens=words("Found it."), items=[mcp_call("lookup", {"q": "x"}, id="mcp_7")])
    servers = json.dumps([{"server_label": "tools", "server_url": "https://mcp.example.com/mcp", "require_approval": "never"}])
    stream = ops(model, "responses", MCP_SERVERS=servers).stream(ASK, job=JOB)
    items = list(stream)
    steps = [i for i in items if isinstance(i, Step)]
    assert [(s.id, s.title, s.status, s.details) for s in steps] == [
        ("mcp_7", "Calling lookup on tools", IN_PROGRESS, '{"q": "x"}'),
        ("mcp_7", "Calling lookup on tools", COMPLETE, '{"q": "x"}'),
    ]
    assert items.index(steps[-1]) < items.index("Found")  # the step is shown before the answer
    assert "".join(i for i in items if isinstance(i, str)) == "Found it."
    assert stream.tool_calls == {"mcp": 1}
    # The channel's MCP server went to the model as a hosted tool, with the Responses API's names.
    assert model.requests[0].body["tools"] == [
        {"type": "mcp", "server_label": "tools", "server_url": "https://mcp.example.com/mcp", "require_approval": "never"}
    ]


def test_web_search_is_a_step_and_only_on_the_responses_api(model):
    model.default_plan = Plan(tokens=["ok"], items=[web_search("slack limits", id="ws_1")])
    items = list(ops(model, "responses", WEB_SEARCH="on").stream(ASK, job=JOB))
    assert [(i.id, i.status, i.details) for i in items if isinstance(i, Step)][:2] == [
        ("ws_1", IN_PROGRESS, "slack limits"),
        ("ws_1", COMPLETE, "slack limits"),
    ]
    assert model.requests[0].body["tools"] == [{"type": "web_search"}]
    assert ops(model, "chat_completions").tools(JOB) == []  # chat completions has no hosted tools


# -- failures -> ModelError ---------------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    "plan, kind, shown, requests",
    [
        (Plan(fail="401"), "auth", "refused the API key (401)", 1),  # a literal key can't rotate: no retry
        (Plan(fail="429"), "rate_limited", "rate-limiting us (429)", 3),  # the SDK's two retries
        (Plan(fail="500"), "upstream_error", "returned an error (500)", 3),
    ],
    ids=["401", "429", "500"],
)
def test_a_refused_request_is_a_model_error_with_a_sentence_for_the_user(model, api, plan, kind, shown, requests):
    model.default_plan = plan
    with pytest.raises(ModelError) as failure:
        ops(model, api).stream(ASK, job=JOB)
    assert failure.value.kind == kind and shown in failure.value.user_message
    assert "upstream trouble" not in failure.value.user_message  # the provider's own text is not shown
    assert len(model.requests) == requests


@pytest.mark.parametrize("api", APIS)
def test_a_stream_cut_mid_answer_is_a_model_error_after_the_text_so_far(model, api):
    model.default_plan = Plan(tokens=words("this answer will be cut"), fail="cut", fail_after=3)
    stream = ops(model, api).stream(ASK, job=JOB)
    got = []
    with pytest.raises(ModelError) as failure:
        for item in stream:
            got.append(item)
    assert got == words("this answer will")
    assert failure.value.kind == "stream_cut" and "cut off" in failure.value.user_message
    assert stream.usage is None  # no usage chunk came: the pipeline estimates instead


def test_no_key_configured_is_a_model_error_without_a_request(model):
    with pytest.raises(ModelError) as failure:
        ops(model, "chat_completions", secrets=SecretStore({"OPENAI_API_KEY": "unset"})).stream(ASK)
    assert failure.value.kind == "no_key" and model.requests == []


# -- close --------------------------------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_close_after_a_few_deltas_hangs_up_the_http_stream(model, api):
    model.default_plan = Plan(tokens=[f" t{i}" for i in range(200)], delay_s=0.01)  # ~2 s if read to the end
    stream = ops(model, api).stream(ASK, job=JOB)
    for n, _ in enumerate(stream, 1):
        if n == 3:
            break
    stream.close()
    seen = model.requests[0]
    wait_for(lambda: seen.hung_up or seen.finished)  # the fake notices on its next write
    assert seen.hung_up and not seen.finished and seen.tokens_sent < 200


def test_close_from_another_thread_wakes_a_reader_blocked_on_a_silent_tool_call(model):
    # A hosted tool runs: no byte comes for 5 s. The stop (another thread) must end the read now
    # and tell the provider, not wait for the next byte.
    model.default_plan = Plan(tokens=["late"], items=[web_search("q", id="ws_1")], item_delay_s=5.0)
    stream = ops(model, "responses").stream(ASK, job=JOB)
    got, errors = [], []

    def read():
        try:
            for item in stream:
                got.append(item)
        except Exception as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    wait_for(lambda: got)  # the tool's in-progress step arrived: the stream is now silent
    stream.close()
    wait_for(lambda: not reader.is_alive())
    assert errors == [] and [i.status for i in got] == [IN_PROGRESS]  # ended quietly, nothing after
    seen = model.requests[0]
    # Hung up during the tool call: a close that waited for the next byte would have let the
    # fake finish the tool and the text (finished), and the provider go on generating.
    wait_for(lambda: seen.hung_up or seen.finished)
    assert seen.hung_up and not seen.finished


# -- key rotation -------------------------------------------------------------------------------
@pytest.mark.parametrize("api", APIS)
def test_a_401_rereads_a_rotated_key_and_retries_once(model, api, monkeypatch, capsys):
    monkeypatch.delenv("GCE_METADATA_HOST", raising=False)
    sm = FakeSecretManager().start()
    try:
        sm.set("openai-api-key", "sk-test")
        secrets = SecretStore({"OPENAI_API_KEY": sm.ref("openai-api-key")}, endpoint=sm.url)
        client = ops(model, api, secrets=secrets)
        assert list(client.stream(ASK, job=JOB)) == model.default_plan.tokens
        sm.set("openai-api-key", "sk-new")  # rotated; the old key is revoked upstream
        model.valid_keys = {"sk-new"}
        assert list(client.stream(ASK, job=JOB)) == model.default_plan.tokens
        assert [r.key for r in model.requests] == ["sk-test", "sk-test", "sk-new"]
        assert sm.access_count[sm.name("openai-api-key")] == 2  # one re-read, not one per request
        # A refused key that did not change is not retried: one more request, then the error.
        model.valid_keys = {"sk-elsewhere"}
        with pytest.raises(ModelError) as failure:
            client.stream(ASK, job=JOB)
        assert failure.value.kind == "auth" and len(model.requests) == 4
        logged = capsys.readouterr().out
        assert "sk-test" not in logged and "sk-new" not in logged  # no key value in any log line
    finally:
        sm.stop()
