"""Thinking steps as a user sees them, end to end (issues 19 and 20): signed events -> the real
function -> the Slack fake's native streams (task_update cards recorded per message) and the
Responses API fake. Each test crosses the seams the unit tests stop at: the handler's own steps
(reading the thread), a hosted tool's step from the model stream, and a stop while a tool runs."""

import json
import threading
import time

from teambot.slack.marks import STOPPED, answer_mark
from tests.e2e.test_answer_e2e import finished
from tests.fakes.openai_api import Plan, mcp_call, words
from tests.harness import dm, shortcut, wait_for

SERVERS = [{"server_label": "crm", "server_url": "https://crm.example.com/mcp", "require_approval": "never"}]


def cards(slack, channel, ts):
    """Every task card shown in the bot's messages of the thread: id -> its last chunk."""
    shown = {}
    for m in slack.bot_messages(channel, ts):
        shown.update(m.get("tasks") or {})
    return shown


def test_a_thread_answer_shows_reading_the_thread_then_the_tool_then_the_text(start_bot, slack, model):
    slack.agent_view = True
    bot = start_bot(OPENAI_API="responses", MCP_SERVERS=json.dumps(SERVERS))
    model.default_plan = Plan(
        tokens=words("The account is active."),
        items=[mcp_call("lookup_account", {"id": "42"}, server_label="crm", output="active")],
    )
    root = slack.add_message("D1", "We need to check the customer accounts.")
    slack.add_message("D1", "Account 42 renewed last week.", user="U2", thread_ts=root)
    ts = slack.add_message("D1", "Is account 42 active?", thread_ts=root)
    assert bot.post_json(dm("Is account 42 active?", ts, thread_ts=root)).status == 200
    msgs = wait_for(finished(slack, "D1", root), timeout=20)
    assert msgs[-1]["text"].startswith("The account is active.")
    shown = cards(slack, "D1", root)
    titles = [c["title"] for c in shown.values()]
    assert any("thread" in t.lower() for t in titles), titles  # the handler's own step
    assert any("lookup_account" in (c.get("title", "") + c.get("details", "")) for c in shown.values()), shown
    assert all(c["status"] in ("complete", "error") for c in shown.values()), shown  # none left spinning


def start_a_slow_tool_call(start_bot, slack, model):
    """An answer whose tool call takes 8 s, showing as a card in a native stream: (bot, thread ts)."""
    bot = start_bot(OPENAI_API="responses", MCP_SERVERS=json.dumps(SERVERS))
    model.default_plan = Plan(
        tokens=words("this text must never be written"),
        item_delay_s=8.0,
        items=[mcp_call("slow_report", {}, server_label="crm", output="x")],
    )
    root = slack.add_message("D1", "Run the slow report")
    assert bot.post_json(dm("Run the slow report", root)).status == 200
    # The tool call is showing as a card, and the model is busy with it.
    wait_for(
        lambda: any("slow_report" in (c.get("title", "") + c.get("details", "")) for c in cards(slack, "D1", root).values()),
        timeout=10,
    )
    return bot, root


def test_the_native_stop_button_in_the_middle_of_a_tool_call_stops_the_model(start_bot, slack, model):
    slack.agent_view = True
    bot, root = start_a_slow_tool_call(start_bot, slack, model)
    assert bot.post_json(slack.stop_click("D1", root)).status == 200
    clicked = time.monotonic()
    wait_for(lambda: model.requests[0].hung_up, timeout=6)  # the connection closed, the tool's wait with it
    assert not model.requests[0].finished and model.requests[0].ended_at - clicked < 4
    wait_for(lambda: [m for m in slack.bot_messages("D1", root) if (answer_mark(m) or {}).get("state") == STOPPED])
    assert not any("never be written" in m["text"] for m in slack.bot_messages("D1", root))
    wait_for(lambda: slack.sessions[("D1", root)]["status"] == "active")


def test_a_stop_in_the_middle_of_a_tool_call_leaves_its_card_stopped_not_spinning(start_bot, slack, model):
    bot, root = start_a_slow_tool_call(start_bot, slack, model)
    message = slack.bot_messages("D1", root)[0]
    assert bot.post_form(shortcut("stop_generation", dict(message))).status == 200  # the Stop shortcut: our own write
    wait_for(lambda: [m for m in slack.bot_messages("D1", root) if (answer_mark(m) or {}).get("state") == STOPPED])
    tool = next(c for c in cards(slack, "D1", root).values() if "slow_report" in c.get("title", "") + c.get("details", ""))
    assert tool["status"] == "error" and tool.get("output") == "stopped", tool


def test_a_stop_before_the_writer_knows_its_first_messages_ts_is_still_a_local_stop(start_bot, slack, model):
    # Slack shows an answer's first message the moment chat.startStream lands; its ts reaches the
    # writer only with the response. A Stop in between is on this instance's own answer: stopped
    # here (the answer loop settles its tool card), not through Slack (the card would spin).
    slack.held["chat.startStream"] = release = threading.Event()
    try:
        bot, root = start_a_slow_tool_call(start_bot, slack, model)
        message = slack.bot_messages("D1", root)[0]
        assert bot.post_form(shortcut("stop_generation", dict(message))).status == 200
        stops = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "stop"])
    finally:
        release.set()
    assert stops[0]["how"] == "local", stops
    wait_for(lambda: [m for m in slack.bot_messages("D1", root) if (answer_mark(m) or {}).get("state") == STOPPED])
    tool = next(c for c in cards(slack, "D1", root).values() if "slow_report" in c.get("title", "") + c.get("details", ""))
    assert tool["status"] == "error" and tool.get("output") == "stopped", tool
    assert slack.count("chat.stopStream") == 1  # the writer's own, with the settled card


def test_an_approval_card_is_settled_when_the_answer_waits_for_the_asker(start_bot, slack, model):
    from tests.e2e.test_tools_mcp import ask_for_approval

    _, root, _ = ask_for_approval(start_bot, slack, model)
    wait_for(lambda: any("Waiting for approval" in m["text"] for m in slack.bot_messages("D1", root) if not m.get("streaming")))
    shown = cards(slack, "D1", root)
    assert shown and all(c["status"] in ("complete", "error") for c in shown.values()), shown
    assert any(c.get("output") == "approval asked below" for c in shown.values()), shown
