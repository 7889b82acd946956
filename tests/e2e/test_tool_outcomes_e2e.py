"""Issue 20, end to end: how a hosted tool's outcome reaches Slack. A tool that fails, a tool list
that cannot be read, a web search that fails, and a searched answer's sources on the task card of
a native stream. The real function, the real openai SDK against the Responses fake (which sends
only the events the SDK knows), the Slack fake's native streams with their task cards."""

import json

import pytest

from tests.e2e.test_answer_e2e import finished
from tests.e2e.test_steps_e2e import cards
from tests.fakes.openai_api import Plan, mcp_call, mcp_list_tools, url_citation, web_search, words
from tests.harness import dm, wait_for

SERVERS = [{"server_label": "crm", "server_url": "https://crm.example.com/mcp", "require_approval": "never"}]


def ask(start_bot, slack, model, plan: Plan, question: str, **env):
    slack.agent_view = True
    bot = start_bot(OPENAI_API="responses", **env)
    model.default_plan = plan
    ts = slack.add_message("D1", question)
    assert bot.post_json(dm(question, ts)).status == 200
    return bot, ts, wait_for(finished(slack, "D1", ts), timeout=20)


def test_a_tool_that_fails_is_an_error_card_and_the_answer_still_ends(start_bot, slack, model):
    plan = Plan(
        tokens=words("I couldn't reach the CRM right now."),
        items=[
            mcp_list_tools("crm", ["find_customer"]),
            mcp_call(
                "find_customer",
                {"name": "ACME"},
                server_label="crm",
                error={"type": "tool_execution_error", "message": "CRM timed out"},
            ),
        ],
    )
    bot, ts, msgs = ask(start_bot, slack, model, plan, "Who is our contact at ACME?", MCP_SERVERS=json.dumps(SERVERS))
    assert msgs[-1]["text"].startswith("I couldn't reach the CRM right now.")
    call = next(c for c in cards(slack, "D1", ts).values() if "find_customer" in c["title"])
    assert call["status"] == "error" and call["output"] == "failed: CRM timed out"
    record = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "answer"])[0]
    assert record["outcome"] == "done" and record["tool_calls"] == {"mcp": 1}
    assert "CRM timed out" not in bot.logs() and "ACME" not in bot.logs()


def test_a_tool_list_that_cannot_be_read_is_an_error_card(start_bot, slack, model):
    plan = Plan(tokens=words("The CRM is not reachable."), items=[mcp_list_tools("crm", [], error="401 Unauthorized")])
    _, ts, msgs = ask(start_bot, slack, model, plan, "Find ACME", MCP_SERVERS=json.dumps(SERVERS))
    listing = next(c for c in cards(slack, "D1", ts).values() if "Listing the tools of crm" == c["title"])
    assert listing["status"] == "error" and "401 Unauthorized" in listing["output"]
    assert msgs[-1]["text"].startswith("The CRM is not reachable.")


@pytest.mark.parametrize("status", ["failed", "incomplete"])
def test_a_web_search_that_fails_is_an_error_card_without_sources(start_bot, slack, model, status):
    plan = Plan(tokens=words("I could not search just now."), items=[web_search("slack tiers", status=status)])
    _, ts, msgs = ask(start_bot, slack, model, plan, "What are Slack's tiers?", WEB_SEARCH="on")
    (search,) = [c for c in cards(slack, "D1", ts).values() if c["title"] == "Searching the web"]
    assert search["status"] == "error" and search["output"] == status and not search.get("sources")
    assert "Sources" not in msgs[-1]["text"]


def test_a_searched_answer_puts_its_sources_on_the_native_task_card(start_bot, slack, model):
    cites = [
        url_citation("https://docs.slack.dev/apis/web-api/rate-limits", "Rate limits"),
        url_citation("https://docs.slack.dev/apis/web-api/rate-limits", "Rate limits (again)"),
        url_citation("https://docs.slack.dev/reference/methods/chat.update", "chat.update"),
    ]
    plan = Plan(tokens=words("Tier 3 is 50 a minute."), items=[web_search("slack tiers", id="ws_9")], citations=cites)
    _, ts, msgs = ask(start_bot, slack, model, plan, "What are Slack's tiers?", WEB_SEARCH="on")
    assert any(m.get("stream_started") for m in slack.bot_messages("D1", ts))  # a native stream
    search = cards(slack, "D1", ts)["ws_9"]
    assert search["status"] == "complete" and search["details"] == "slack tiers"
    assert [s["url"] for s in search["sources"]] == [
        "https://docs.slack.dev/apis/web-api/rate-limits",
        "https://docs.slack.dev/reference/methods/chat.update",
    ]
    assert "[Rate limits](https://docs.slack.dev/apis/web-api/rate-limits)" in msgs[-1]["text"]
