"""Slack's AI app surface end to end: signed events and clicks -> the real function process ->
the Slack fake (assistant.threads.*, conversations.info, blocks) and the model fake. Every
answer-path test runs natively and in update mode (native streaming refused)."""

import json
import time

import pytest

from teambot.core.settings import DEFAULT_SUGGESTED_PROMPTS
from teambot.slack.ai_panel import THINKING
from teambot.slack.blocks import FEEDBACK_ACTION
from teambot.slack.marks import CONTEXT_EVENT
from tests.e2e.test_answer_e2e import finished
from tests.fakes.openai_api import Plan, words
from tests.harness import assistant_thread_event, dm, feedback_click, mention, settle, wait_for

WRITES = ("chat.startStream", "chat.appendStream", "chat.postMessage", "chat.update")


@pytest.fixture(params=["native", "update"])
def mode(request, slack):
    if request.param == "update":
        slack.native_refusal = "channel_type_not_supported"  # chat.startStream refused: update mode
    return request.param


def open_panel(bot, slack, *, context_channel="C7"):
    """The AI panel opens: Slack's root message, then assistant_thread_started."""
    root = slack.add_message("D1", "New chat", user="U1", subtype="assistant_app_thread")
    assert bot.post_json(assistant_thread_event("assistant_thread_started", root, context_channel=context_channel)).status == 200
    wait_for(lambda: slack.prompts and [m for m in slack.bot_messages("D1", root) if m.get("metadata")])
    return root


def context_of(slack, root):
    greeting = [m for m in slack.bot_messages("D1", root) if (m.get("metadata") or {}).get("event_type") == CONTEXT_EVENT]
    assert len(greeting) == 1
    return greeting[0]["metadata"]["event_payload"]


def ask(bot, slack, text, root, *, user="U1"):
    ts = slack.add_message("D1", text, user=user, thread_ts=root)
    started = time.monotonic()
    assert bot.post_json(dm(text, ts, thread_ts=root, user=user)).status == 200
    return ts, started


def first_write_after(slack, since):
    return min(c["time"] for c in slack.calls if c["method"] in WRITES and c["time"] >= since and c["status"] == 200)


def answers(slack, channel, thread_ts):
    return [m for m in slack.bot_messages(channel, thread_ts) if (m.get("metadata") or {}).get("event_type") == "teambot_answer"]


def feedback_element(message):
    blocks = message.get("blocks") or []
    found = [e for b in blocks if b["type"] == "context_actions" for e in b["elements"] if e["type"] == "feedback_buttons"]
    return found[0] if found else None


def test_thread_start_suggests_prompts_and_keeps_the_context_in_the_greeting(bot, slack, model):
    root = open_panel(bot, slack, context_channel="C7")
    [call] = slack.prompts
    assert call["thread_ts"] == root and call["channel"] == "D1"
    assert call["prompts"] == [dict(p) for p in DEFAULT_SUGGESTED_PROMPTS]
    assert context_of(slack, root) == {"channel_id": "C7", "team_id": "T1"}
    # Slack's retry of the same event, and a redelivery with another envelope: one greeting.
    event = assistant_thread_event("assistant_thread_started", root, context_channel="C7", event_ts="1.000001")
    bot.post_json(event, retry=1)
    settle()
    assert len(slack.bot_messages("D1", root)) == 1
    assert model.requests == []
    record = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "assistant_thread_started"])[0]
    assert record["outcome"] == "prompts_set" and record["context_channel"] == "C7"


def test_ai_panel_answer_status_title_context_and_feedback(start_bot, slack, model, mode):
    bot = start_bot(SUGGESTED_PROMPTS=json.dumps(["What changed this week?"]))
    slack.channels.update(
        {
            "C7": {"id": "C7", "name": "release-planning", "is_channel": True},
            "C8": {"id": "C8", "name": "incident-42", "is_channel": True},
        }
    )
    model.default_plan = Plan(tokens=words("Start with the incident timeline, then the owners."), delay_s=0.02)
    root = open_panel(bot, slack, context_channel="C7")
    assert slack.prompts[0]["prompts"] == [{"title": "What changed this week?", "message": "What changed this week?"}]

    # The user moves to #incident-42: remembered in the greeting's metadata, in the thread.
    bot.post_json(assistant_thread_event("assistant_thread_context_changed", root, context_channel="C8"))
    wait_for(lambda: context_of(slack, root).get("channel_id") == "C8")

    question = "What should   I do first?"
    _, asked = ask(bot, slack, question, root)
    wait_for(lambda: len(answers(slack, "D1", root)) == 1 and finished(slack, "D1", root)())
    [status] = slack.statuses
    assert status["thread_ts"] == root and status["status"] == THINKING and 0 < len(status["loading_messages"]) <= 10
    assert status["time"] < first_write_after(slack, asked)  # before the first visible text
    assert status["time"] < model.requests[0].first_token_at  # and before the model's first token
    assert [t["title"] for t in slack.titles] == ["What should I do first?"]
    system = model.requests[0].body["messages"][0]
    assert system["role"] == "system" and "#incident-42" in system["content"] and "release-planning" not in system["content"]
    sent = model.requests[0].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]  # the greeting is not a conversation turn

    [answer] = answers(slack, "D1", root)
    assert answer["text"] == model.default_plan.text
    element = feedback_element(answer)
    assert element and element["action_id"] == FEEDBACK_ACTION
    if mode == "update":  # markdown_text can't travel with blocks: the text is a markdown block
        assert answer["blocks"][0] == {"type": "markdown", "text": model.default_plan.text}

    # A second question (in update mode it now starts with a placeholder): status first again,
    # no second title.
    _, asked = ask(bot, slack, "And then?", root)
    wait_for(lambda: len(answers(slack, "D1", root)) == 2 and finished(slack, "D1", root)())
    assert len(slack.statuses) == 2 and len(slack.titles) == 1
    assert slack.statuses[1]["time"] < first_write_after(slack, asked)
    assert "#incident-42" in model.requests[1].body["messages"][0]["content"]
    record = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "answer"])[0]
    assert record["mode"] == mode
    assert "incident timeline" not in bot.logs() and "do first" not in bot.logs()


def test_status_comes_first_on_dms_and_channel_mentions_too(bot, slack, model, mode):
    model.default_plan = Plan(tokens=words("Sure, here it is."), delay_s=0.02)
    ts = slack.add_message("C1", "<@UBOT> hello")
    asked = time.monotonic()
    bot.post_json(mention("<@UBOT> hello", ts))
    wait_for(finished(slack, "C1", ts))
    dm_ts = slack.add_message("D1", "hi there")
    dm_asked = time.monotonic()
    bot.post_json(dm("hi there", dm_ts))
    wait_for(finished(slack, "D1", dm_ts))
    first, second = slack.statuses
    assert (first["channel"], first["thread_ts"]) == ("C1", ts)  # a top-level mention: the reply thread
    assert (second["channel"], second["thread_ts"]) == ("D1", dm_ts)
    assert first["time"] < first_write_after(slack, asked) and second["time"] < first_write_after(slack, dm_asked)
    assert slack.titles == []  # not an AI panel thread
    for channel, thread in (("C1", ts), ("D1", dm_ts)):
        assert feedback_element(answers(slack, channel, thread)[-1])


def test_a_refused_status_is_ignored_and_logged_once(bot, slack, model):
    slack.status_refusal = "access_denied"
    for i in range(2):
        ts = slack.add_message("D1", f"question {i}")
        bot.post_json(dm(f"question {i}", ts))
        msgs = wait_for(finished(slack, "D1", ts))
        assert msgs[0]["text"] == model.default_plan.text
    refused = [c for c in slack.calls if c["method"] == "assistant.threads.setStatus"]
    assert len(refused) == 2 and slack.statuses == []
    assert len([r for r in bot.log_records() if r.get("message") == "status_refused"]) == 1


def test_a_workspace_wide_refusal_stops_asking(bot, slack, model):
    slack.status_refusal = "missing_scope"
    for i in range(2):
        ts = slack.add_message("D1", f"q{i}")
        bot.post_json(dm(f"q{i}", ts))
        wait_for(finished(slack, "D1", ts))
    assert len([c for c in slack.calls if c["method"] == "assistant.threads.setStatus"]) == 1


def test_feedback_is_logged_thanked_and_never_reaches_the_model(bot, slack, model, mode):
    ts = slack.add_message("D1", "Is this right?")
    bot.post_json(dm("Is this right?", ts))
    wait_for(finished(slack, "D1", ts))
    [answer] = answers(slack, "D1", ts)
    calls_before = len(model.requests)
    good = feedback_click(answer, "good", user="U1", action_ts="1700000001.000001")
    assert bot.post_form(good).status == 200
    assert bot.post_form(good).status == 200  # the same click delivered twice counts once
    assert bot.post_form(feedback_click(answer, "bad", user="U2", action_ts="1700000002.000001")).status == 200
    wait_for(lambda: len(slack.ephemerals) == 2)
    records = wait_for(lambda: (r := [r for r in bot.log_records() if r.get("message") == "feedback"]) and len(r) == 2 and r)
    by_user = {r["user"]: r for r in records}
    assert by_user["U1"]["rating"] == "good" and by_user["U2"]["rating"] == "bad"
    for r in records:
        assert (r["team"], r["channel"], r["message_ts"], r["model"]) == ("T1", "D1", answer["ts"], "test-model")
        assert set(r) <= {"severity", "message", "time", "rating", "team", "channel", "user", "message_ts", "model"}
    assert {e["user"] for e in slack.ephemerals} == {"U1", "U2"} and all("Thanks" in e["text"] for e in slack.ephemerals)
    settle()
    assert len(model.requests) == calls_before
    assert "Is this right" not in bot.logs() and model.default_plan.text not in bot.logs()


def test_a_context_change_before_the_greeting_is_kept(bot, slack, model):
    root = slack.add_message("D1", "New chat", user="U1", subtype="assistant_app_thread")
    bot.post_json(assistant_thread_event("assistant_thread_context_changed", root, context_channel="C5"))
    wait_for(lambda: slack.bot_messages("D1", root))
    assert context_of(slack, root)["channel_id"] == "C5"
    bot.post_json(assistant_thread_event("assistant_thread_started", root, context_channel="C5"))
    wait_for(lambda: slack.prompts)
    settle()
    assert len(slack.bot_messages("D1", root)) == 1  # no second greeting


def test_a_private_channel_the_bot_cannot_see_is_named_by_id_only(bot, slack, model):
    slack.channels["G9"] = {"id": "G9", "name": "secret-plans", "is_private": True, "bot_is_member": False}
    root = open_panel(bot, slack, context_channel="G9")
    ask(bot, slack, "Help me", root)
    wait_for(lambda: answers(slack, "D1", root) and finished(slack, "D1", root)())
    system = model.requests[0].body["messages"][0]["content"]
    assert "<#G9>" in system and "secret-plans" not in system
    # Only the channel's name was ever asked for: nothing read its messages.
    assert not [c for c in slack.calls if c["method"] in ("conversations.history",)]


def test_people_the_bot_does_not_serve_get_no_greeting_prompts_or_context(start_bot, slack, model):
    bot = start_bot(ALLOWED_USER_IDS="U9")
    root = slack.add_message("D1", "New chat", user="U1", subtype="assistant_app_thread")
    bot.post_json(assistant_thread_event("assistant_thread_started", root, context_channel="C7"))
    bot.post_json(assistant_thread_event("assistant_thread_context_changed", root, context_channel="C8"))
    refused = wait_for(
        lambda: (r := [r["message"] for r in bot.log_records() if r.get("outcome") == "not_allowed"]) and len(r) == 2 and r
    )
    assert sorted(refused) == ["assistant_context", "assistant_thread_started"]
    assert slack.prompts == [] and slack.bot_messages("D1", root) == [] and model.requests == []


def test_slow_or_failing_ai_surface_calls_never_cost_the_answer(start_bot, slack, model, mode):
    bot = start_bot(SLACK_TIMEOUT_SECONDS=0.5)
    slack.channels["C7"] = {"id": "C7", "name": "general", "is_channel": True}
    root = open_panel(bot, slack, context_channel="C7")
    slack.hang_s = 1.5  # past the client's timeout: the call fails on our side
    slack.hang.update({"assistant.threads.setStatus": 1, "assistant.threads.setTitle": 1})
    slack.server_errors["conversations.info"] = 5  # more 500s than slack_sdk retries
    ask(bot, slack, "Still answering?", root)
    wait_for(lambda: answers(slack, "D1", root) and finished(slack, "D1", root)(), timeout=30)
    assert answers(slack, "D1", root)[0]["text"] == model.default_plan.text
    assert "<#C7>" in model.requests[0].body["messages"][0]["content"]  # named by id when the name is unknown
