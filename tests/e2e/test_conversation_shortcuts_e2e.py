"""The "Summarize thread" and "Translate" message shortcuts, end to end: answered in the right
thread, exactly once, streamed, stoppable; long threads summarized in parts."""

import json
import time

from teambot.handlers.summarize_thread import parts, transcript_lines
from tests.e2e.test_answer_e2e import finished
from tests.e2e.test_shortcuts_and_faults_e2e import first_bot_message
from tests.fakes.openai_api import Plan, words
from tests.harness import settle, shortcut, wait_for


def a_thread(slack, channel="C1", replies=3):
    root = slack.add_message(channel, "Should we ship on Friday?", user="U1")
    for i in range(replies):
        slack.add_message(
            channel, f"reply {i}: the tests are {'green' if i % 2 else 'red'}", user=f"U{2 + i % 2}", thread_ts=root
        )
    return root


def test_summarize_answers_in_the_thread_of_the_message_once(bot, slack, model):
    root = a_thread(slack)
    inner = [m for m in slack.thread("C1", root) if m["ts"] != root][1]
    model.default_plan = Plan(tokens=words("We ship Friday once the tests are green."))
    payload = shortcut("summarize_thread", dict(inner), user="U4")
    assert bot.post_form(payload).status == 200
    assert bot.post_form(payload).status == 200  # Slack retries / a double click: one summary
    answer = wait_for(finished(slack, "C1", root))
    settle()
    assert [m["text"] for m in answer] == ["We ship Friday once the tests are green."]
    assert answer[0]["thread_ts"] == root and len(model.requests) == 1
    sent = model.requests[0].body["messages"]
    assert sent[0]["role"] == "system" and "summarize" in sent[0]["content"].lower()
    assert "<@U1>: Should we ship on Friday?" in sent[1]["content"]
    assert "<@U3>: reply 1: the tests are green" in sent[1]["content"]
    record = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "answer"])[0]
    assert record["kind"] == "summarize_thread" and record["parts"] == 1 and record["outcome"] == "done"
    assert "Friday" not in bot.logs()


def test_a_long_thread_is_summarized_in_parts_within_the_budget(start_bot, slack, model):
    bot = start_bot(MAX_CONTEXT_TOKENS="1500")
    root = slack.add_message("C1", "Incident review", user="U1")
    for i in range(40):
        slack.add_message("C1", f"note {i}: " + "details " * 40, user="U2", thread_ts=root)
    model.responder = lambda body: Plan(
        tokens=["part summary" if "part" in body["messages"][1]["content"][:40] else "final summary"]
    )
    bot.post_form(shortcut("summarize_thread", dict(slack.messages[root])))
    answer = wait_for(finished(slack, "C1", root), timeout=30)
    assert answer[-1]["text"] == "final summary" and len(answer) == 1
    assert len(model.requests) >= 3
    for request in model.requests:  # every call fits the budget
        assert sum(len(m["content"]) for m in request.body["messages"]) // 4 <= 1500
    final = model.requests[-1].body["messages"][1]["content"]
    assert final.count("part summary") == len(model.requests) - 1
    everything = json.dumps([r.body for r in model.requests[:-1]])
    assert "note 0:" in everything and "note 39:" in everything  # no message was left out


def test_stop_on_a_summary_mid_stream_closes_the_model_stream(bot, slack, model):
    root = a_thread(slack, channel="D1")
    model.default_plan = Plan(tokens=[f" t{i}" for i in range(300)], delay_s=0.02)
    bot.post_form(shortcut("summarize_thread", dict(slack.messages[root])))
    message = first_bot_message(slack, "D1", root)
    pressed = time.monotonic()
    bot.post_form(shortcut("stop_generation", dict(message)))
    wait_for(lambda: model.requests[0].hung_up or model.requests[0].finished, timeout=5)
    assert model.requests[0].hung_up and model.requests[0].tokens_sent < 300
    assert model.requests[0].ended_at - pressed < 2.0
    final = wait_for(finished(slack, "D1", root))
    assert final[-1]["text"].rstrip().endswith("_⏹ Stopped._")


def test_translate_uses_the_users_locale_and_answers_in_the_thread(bot, slack, model):
    slack.set_locale("U7", "fr-FR")
    root = slack.add_message("C1", "Kickoff", user="U1")
    ts = slack.add_message("C1", "The deploy is blocked by a failing test.", user="U2", thread_ts=root)
    model.default_plan = Plan(tokens=words("Le déploiement est bloqué par un test en échec."))
    payload = shortcut("translate_message", dict(slack.messages[ts]), user="U7")
    bot.post_form(payload)
    bot.post_form(payload)
    answer = wait_for(finished(slack, "C1", root))
    settle()
    assert [m["text"] for m in answer] == ["Le déploiement est bloqué par un test en échec."]
    assert answer[0]["thread_ts"] == root and len(model.requests) == 1
    sent = model.requests[0].body["messages"]
    assert "fr-FR" in sent[0]["content"]
    assert sent[1] == {"role": "user", "content": "The deploy is blocked by a failing test."}
    assert slack.count("users.info") == 1


def test_translate_prefers_the_channel_profile_language(start_bot, slack, model):
    bot = start_bot(CHANNEL_PROFILES=json.dumps({"C8": {"translate_to": "Japanese", "model": "translator"}}))
    ts = slack.add_message("C8", "Good morning, team!", user="U2")
    bot.post_form(shortcut("translate_message", dict(slack.messages[ts])))
    answer = wait_for(finished(slack, "C8", ts))
    assert answer[0]["thread_ts"] == ts  # a top-level message: the translation starts its thread
    body = model.requests[0].body
    assert "into Japanese" in body["messages"][0]["content"] and body["model"] == "translator"
    assert slack.count("users.info") == 0


def test_transcript_and_parts_in_process():
    replies = [
        {"ts": "1.0", "user": "U1", "text": "question"},
        {"ts": "2.0", "user": "UBOT", "bot_id": "BBOT", "text": "an answer"},
        {
            "ts": "3.0",
            "user": "UBOT",
            "bot_id": "BBOT",
            "text": "a notice",
            "metadata": {"event_type": "teambot_notice", "event_payload": {}},
        },
        {"ts": "4.0", "user": "U2", "text": "", "files": [{"name": "a.png"}], "subtype": "file_share"},
        {"ts": "5.0", "user": "U3", "text": "left", "subtype": "channel_leave"},
    ]
    assert transcript_lines(replies, "UBOT", "BBOT") == ["<@U1>: question", "assistant: an answer", "<@U2>: [shared 1 file(s)]"]
    lines = [f"line {i} " + "x" * 100 for i in range(10)]
    chunks = parts(lines, 60)
    assert "\n".join(chunks) == "\n".join(lines) and all(len(c) // 4 <= 60 for c in chunks)
    assert parts(["y" * 10_000], 100)[0].endswith("…")
