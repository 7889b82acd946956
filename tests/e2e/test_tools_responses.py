"""Issue 20: the Responses API path (OPENAI_API=responses), web search with sources, and the
Responses fake driven by the real openai SDK (so the fake speaks what the SDK parses)."""

import json

import openai
import pytest

from tests.e2e.test_answer_e2e import finished
from tests.fakes.openai_api import Plan, mcp_approval_request, mcp_call, mcp_list_tools, url_citation, web_search, words
from tests.harness import dm, mention, wait_for


# -- the fake, parsed by the real SDK ----------------------------------------------------------
def test_fake_responses_stream_parses_with_the_real_sdk(model):
    model.default_plan = Plan(
        tokens=words("Paris it is."),
        items=[
            web_search("capital of France"),
            mcp_list_tools("tools", ["lookup"]),
            mcp_call("lookup", {"q": "x"}),
            mcp_approval_request("delete", {"id": 1}, id="mcpr_9"),
        ],
        citations=[url_citation("https://example.org/paris", "Paris", 0, 5)],
    )
    client = openai.OpenAI(api_key="sk-test", base_url=model.url + "/v1", max_retries=0)
    with client.responses.stream(model="m", input="q?", tools=[{"type": "web_search"}]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "response.web_search_call.searching" in kinds and "response.mcp_call.completed" in kinds
    assert "response.output_text.annotation.added" in kinds and "response.mcp_list_tools.completed" in kinds
    types = [type(item).__name__ for item in final.output]
    assert types == ["ResponseFunctionWebSearch", "McpListTools", "McpCall", "McpApprovalRequest", "ParsedResponseOutputMessage"]
    assert final.output[0].action.query == "capital of France"
    assert final.output_text == "Paris it is."
    assert final.output[-1].content[0].annotations[0].url == "https://example.org/paris"
    assert final.usage.input_tokens == 42 and final.usage.output_tokens == 3
    # the chain: previous_response_id + mcp_approval_response, checked by the fake
    model.default_plan = Plan(tokens=["ok"])
    again = client.responses.create(
        model="m",
        previous_response_id=final.id,
        stream=False if False else True,
        input=[{"type": "mcp_approval_response", "approval_request_id": "mcpr_9", "approve": True}],
    )
    assert [e.type for e in again][-1] == "response.completed"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="m", previous_response_id="resp_nope", stream=True, input="x")


# -- end to end: the real function over loopback ---------------------------------------------
@pytest.mark.parametrize("api", ["responses", "chat_completions"])
def test_answer_streams_on_both_apis(start_bot, slack, model, api):
    bot = start_bot(OPENAI_API=api)
    model.default_plan = Plan(tokens=words("Paris is the capital of France."), delay_s=0.01)
    ts = slack.add_message("D1", "Capital of France?")
    assert bot.post_json(dm("Capital of France?", ts)).status == 200
    msgs = wait_for(finished(slack, "D1", ts))
    assert [m["text"] for m in msgs] == [model.default_plan.text]
    seen = model.requests[0]
    assert ("input" in seen.body) == (api == "responses") and ("messages" in seen.body) == (api == "chat_completions")
    assert seen.messages[0]["role"] == "system" and seen.messages[-1] == {"role": "user", "content": "Capital of France?"}
    record = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "answer"])[0]
    assert record["outcome"] == "done" and record["prompt_tokens"] == 42
    assert record["completion_tokens"] == len(model.default_plan.tokens)
    assert "tools" not in seen.body  # WEB_SEARCH is off by default, no MCP servers


def test_openai_api_defaults_and_validation():
    from teambot.core.settings import Settings

    assert Settings.from_env({}).openai_api == "responses"
    assert Settings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}).openai_api == "chat_completions"
    assert Settings.from_env({"OPENAI_BASE_URL": "http://x/v1", "OPENAI_API": "responses"}).openai_api == "responses"
    with pytest.raises(ValueError, match="OPENAI_API"):
        Settings.from_env({"OPENAI_API": "assistants"})
    with pytest.raises(ValueError, match="WEB_SEARCH"):
        Settings.from_env({"WEB_SEARCH": "yes"})


def test_web_search_is_a_step_and_every_citation_becomes_one_source(start_bot, slack, model):
    bot = start_bot(OPENAI_API="responses", WEB_SEARCH="on")
    cites = [
        url_citation("https://example.org/a", "Page A"),
        url_citation("https://example.org/b", "Page [B]"),
        url_citation("https://example.org/a", "Page A again"),
        url_citation("https://example.com/c(1)", ""),
    ]
    model.default_plan = Plan(
        tokens=words("The answer, from the web."), items=[web_search("latest python release")], citations=cites
    )
    ts = slack.add_message("D1", "What is the latest Python?")
    assert bot.post_json(dm("What is the latest Python?", ts)).status == 200
    msgs = wait_for(finished(slack, "D1", ts))
    text = msgs[-1]["text"]
    assert text.startswith("The answer, from the web.")
    sources = text.split("*Sources:*", 1)[1]
    assert sources.strip() == (
        "[Page A](https://example.org/a) · [Page B](https://example.org/b) · [example.com](https://example.com/c%281%29)"
    )
    assert text.count("https://example.org/a") == 1
    assert model.requests[0].body["tools"] == [{"type": "web_search"}]
    assert "What is the latest Python" not in bot.logs()


def test_web_search_profile_turns_it_off_for_one_channel(start_bot, slack, model):
    profiles = {"C2": {"web_search": False}}
    bot = start_bot(OPENAI_API="responses", WEB_SEARCH="on", CHANNEL_PROFILES=json.dumps(profiles))
    for channel, n in (("C1", 0), ("C2", 1)):
        ts = slack.add_message(channel, "<@UBOT> hi")
        assert bot.post_json(mention("<@UBOT> hi", ts, channel=channel)).status == 200
        wait_for(finished(slack, channel, ts))
        wait_for(lambda n=n: len(model.requests) > n)
    assert model.requests[0].body["tools"] == [{"type": "web_search"}]
    assert "tools" not in model.requests[1].body


def model_ops(model, **env):
    """The function's own ModelOps (real openai SDK) against the fake, outside a bot process."""
    from teambot.answer.model import ModelOps
    from teambot.core.settings import Settings
    from teambot.gcp.secret_store import SecretStore

    settings = Settings.from_env({"OPENAI_BASE_URL": model.url + "/v1", "OPENAI_API": "responses", **env})
    return ModelOps(settings, SecretStore({"OPENAI_API_KEY": "sk-test"}))


def test_web_search_steps_carry_the_query_then_the_sources(model):
    from teambot.core.jobs import Job
    from teambot.core.steps import COMPLETE, IN_PROGRESS, Step

    model.default_plan = Plan(
        tokens=["Answer."],
        items=[web_search("slack rate limits", id="ws_7")],
        citations=[url_citation("https://docs.slack.dev/apis/web-api/rate-limits", "Rate limits")],
    )
    job = Job(kind="questions", team="T1", channel="C1", user="U1", message_ts="1.1")
    stream = model_ops(model, WEB_SEARCH="on").stream([{"role": "user", "content": "q"}], job=job)
    items = list(stream)
    steps = [i for i in items if isinstance(i, Step)]
    assert [(s.id, s.status, s.details) for s in steps] == [
        ("ws_7", IN_PROGRESS, "slack rate limits"),
        ("ws_7", COMPLETE, "slack rate limits"),
        ("ws_7", COMPLETE, "slack rate limits"),
    ]
    assert steps[0].title == "Searching the web"
    assert [(s.url, s.title) for s in steps[-1].sources] == [("https://docs.slack.dev/apis/web-api/rate-limits", "Rate limits")]
    text = "".join(i for i in items if isinstance(i, str))
    assert text == "Answer.\n\n*Sources:* [Rate limits](https://docs.slack.dev/apis/web-api/rate-limits)"
    assert stream.tool_calls == {"web_search": 1} and stream.usage == {"prompt_tokens": 42, "completion_tokens": 1}
    assert stream.response_id == model.requests[0].response_id


def test_images_go_as_input_image_parts(model):
    ops = model_ops(model)
    parts = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    list(ops.stream([{"role": "system", "content": "be brief"}, {"role": "user", "content": parts}]))
    body = model.requests[0].body
    assert body["instructions"] == "be brief"
    assert body["input"] == [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "what is this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"},
            ],
        }
    ]


def test_response_failed_and_cut_streams_are_model_errors(model):
    from teambot.core.errors import ModelError

    model.default_plan = Plan(tokens=words("a b c d"), fail="cut", fail_after=2)
    with pytest.raises(ModelError) as cut:
        list(model_ops(model).stream([{"role": "user", "content": "q"}]))
    assert cut.value.kind == "stream_cut"


def test_tool_calls_are_counted_in_the_usage_ledger(slack, model):
    from teambot.answer.services import Context, Services
    from teambot.core.settings import Settings
    from teambot.gcp.secret_store import SecretStore
    from teambot.handlers.questions import answer_question, question_from_event
    from teambot.slack.client import SlackOps
    from teambot.usage.ledger import UsageLedger
    from teambot.usage.store import MemoryUsageStore

    settings = Settings(
        slack_api_url=slack.url + "/api/",
        openai_base_url=model.url + "/v1",
        openai_api="responses",
        openai_model="gpt-5-mini",
        web_search=True,
    )
    secrets = SecretStore({"SLACK_BOT_TOKEN": "xoxb-test", "OPENAI_API_KEY": "sk-test"})
    ctx = Context(
        Services(settings=settings, secrets=secrets, slack=SlackOps(settings, secrets), usage=UsageLedger(MemoryUsageStore()))
    )
    model.default_plan = Plan(tokens=["ok"], items=[web_search("a"), web_search("b", id="ws_2")])
    for n in range(2):
        ts = slack.add_message("D1", f"q{n}")
        answer_question(ctx, question_from_event(dm(f"q{n}", ts), settings))
    ctx.usage.flush()
    totals = ctx.usage.summary("T1", "U1").user_month
    assert totals.tool_calls == 4 and totals.answers == 2 and totals.tokens == 2 * 43


def test_hosted_tools_with_chat_completions_are_a_clear_error():
    from teambot.core.settings import Settings

    servers = '[{"server_label": "crm", "server_url": "https://mcp.example.com/mcp"}]'
    for env in ({"WEB_SEARCH": "on"}, {"MCP_SERVERS": servers}, {"CHANNEL_PROFILES": '{"C1": {"web_search": true}}'}):
        with pytest.raises(ValueError, match="OPENAI_API=responses"):
            Settings.from_env({"OPENAI_API": "chat_completions", **env})
        assert Settings.from_env({"OPENAI_API": "responses", **env})
    assert Settings.from_env({"OPENAI_API": "chat_completions", "WEB_SEARCH": "off"}).web_search is False
