"""The answer path end to end: signed Slack events -> real function process -> fake Slack + model."""

import json
import threading

from tests.fakes.openai_api import Plan, words
from tests.harness import dm, mention, settle, wait_for


def finished(slack, channel, thread_ts):
    """The bot's finished answer messages in a thread (native stream stopped / final metadata)."""

    def done():
        msgs = slack.bot_messages(channel, thread_ts)
        states = [((m.get("metadata") or {}).get("event_payload") or {}).get("state") for m in msgs]
        return msgs if msgs and states[-1] not in (None, "streaming", "continued") and not msgs[-1].get("streaming") else None

    return done


def test_url_verification_challenge_is_echoed(bot):
    r = bot.post_json({"type": "url_verification", "token": "x", "challenge": "abc123"})
    assert r.status == 200 and r.json() == {"challenge": "abc123"}


def test_dm_answer_streams_natively_and_equals_model_output(bot, slack, model):
    model.default_plan = Plan(tokens=words("Paris is the capital of France, and has been for a long time."), delay_s=0.01)
    ts = slack.add_message("D1", "Capital of France?")
    assert bot.post_json(dm("Capital of France?", ts)).status == 200
    msgs = wait_for(finished(slack, "D1", ts))
    assert [m["text"] for m in msgs] == [model.default_plan.text]
    assert msgs[0]["thread_ts"] == ts
    assert slack.count("chat.startStream") == 1 and slack.count("chat.stopStream") == 1
    assert slack.count("chat.postMessage") == 0
    record = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "answer"])[0]
    assert record["outcome"] == "done" and record["mode"] == "native"
    assert record["completion_tokens"] == len(model.default_plan.tokens) and record["prompt_tokens"] == 42
    assert record["ttft_ms"] is not None and record["severity"] == "INFO"
    assert "Capital of France" not in bot.logs() and "Paris" not in bot.logs()


def test_mention_is_stripped_and_answered_in_the_thread(bot, slack, model):
    ts = slack.add_message("C1", "<@UBOT> summarize this please")
    assert bot.post_json(mention("<@UBOT> summarize this please", ts)).status == 200
    msgs = wait_for(finished(slack, "C1", ts))
    assert msgs[0]["thread_ts"] == ts
    sent = model.requests[0].body["messages"]
    assert sent[-1] == {"role": "user", "content": "summarize this please"}
    assert "<@UBOT>" not in json.dumps(sent)


def test_thread_context_roles_and_question_exactly_once(bot, slack, model):
    root = slack.add_message("C1", "<@UBOT> what is a monad?", user="U1")
    answer_ts = slack.add_message(
        "C1", "A monad is a monoid in the category of endofunctors.", user="UBOT", thread_ts=root, bot_id="BBOT"
    )
    question = "<@UBOT> and in plain words?"
    ts = slack.add_message("C1", question, user="U2", thread_ts=root)
    slack.page_size = 2  # forces conversations.replies pagination
    assert bot.post_json(mention(question, ts, user="U2", thread_ts=root)).status == 200
    wait_for(finished(slack, "C1", root))
    sent = model.requests[0].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "<@U1>: what is a monad?"
    assert sent[2]["content"].startswith("A monad is")
    assert sent[3]["content"] == "<@U2>: and in plain words?"
    assert json.dumps(sent).count("plain words") == 1
    assert answer_ts in slack.messages


def test_slack_retry_and_double_event_are_answered_once(bot, slack, model):
    ts = slack.add_message("D1", "hello <@UBOT>")
    assert bot.post_json(dm("hello <@UBOT>", ts)).status == 200
    assert bot.post_json(dm("hello <@UBOT>", ts), retry=1).status == 200
    both = mention("hello <@UBOT>", ts, channel="D1")
    assert bot.post_json(both).status == 200
    wait_for(finished(slack, "D1", ts))
    settle()
    assert len(model.requests) == 1
    assert len(slack.bot_messages("D1", ts)) == 1


def test_own_messages_edits_and_subtypes_are_ignored(bot, slack, model):
    ts = slack.add_message("D1", "x")
    cases = [
        dm("I am the bot", ts, user="UBOT"),
        dm("bot message", ts, bot_id="BBOT"),
        dm("edited", ts, subtype="message_changed"),
        dm("deleted", ts, subtype="message_deleted"),
        dm("joined", ts, subtype="channel_join"),
    ]
    channel_msg = dm("a channel message without mention", ts)
    channel_msg["event"]["channel_type"] = "channel"
    cases.append(channel_msg)
    for envelope in cases:
        assert bot.post_json(envelope).status == 200
    settle()
    assert model.requests == [] and slack.calls == []


def test_channel_prompt_and_system_prompt_reach_the_model(start_bot, slack, model):
    bot = start_bot(SYSTEM_PROMPT="You are TeamBot.", CHANNEL_PROMPTS=json.dumps({"C9": "Translate everything to German."}))
    ts = slack.add_message("C9", "<@UBOT> good morning")
    bot.post_json(mention("<@UBOT> good morning", ts, channel="C9"))
    wait_for(finished(slack, "C9", ts))
    system = model.requests[0].body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith("You are TeamBot.")
    assert "Translate everything to German." in system["content"]


def test_long_thread_is_trimmed_to_the_token_budget(start_bot, slack, model):
    bot = start_bot(MAX_CONTEXT_TOKENS=600)
    root = slack.add_message("D1", "start " + "x" * 1000)
    for i in range(10):
        slack.add_message("D1", f"turn {i} " + "y" * 400, thread_ts=root)
    ts = slack.add_message("D1", "the newest question", thread_ts=root)
    bot.post_json(dm("the newest question", ts, thread_ts=root))
    wait_for(finished(slack, "D1", root))
    sent = model.requests[0].body["messages"]
    assert sent[-1]["content"] == "the newest question"
    assert sum(len(m["content"]) for m in sent[1:]) // 4 <= 600
    assert "start" not in json.dumps(sent[1:])


def test_long_answer_continues_in_follow_up_messages(bot, slack, model):
    paragraph = "word " * 199 + "end.\n\n"
    text = paragraph * 25  # ~25,000 characters
    model.default_plan = Plan(tokens=[text[i : i + 500] for i in range(0, len(text), 500)])
    ts = slack.add_message("D1", "write a lot")
    bot.post_json(dm("write a lot", ts))
    msgs = wait_for(finished(slack, "D1", ts), timeout=20)
    assert len(msgs) == 3
    assert all(len(m["text"]) <= 12_000 for m in msgs)
    assert "".join(m["text"] for m in msgs) == text


def test_code_fence_split_is_closed_and_reopened(bot, slack, model):
    code = "```python\n" + "print('hello world')\n" * 800 + "```\n"
    model.default_plan = Plan(tokens=[code[i : i + 700] for i in range(0, len(code), 700)])
    ts = slack.add_message("D1", "code please")
    bot.post_json(dm("code please", ts))
    msgs = wait_for(finished(slack, "D1", ts), timeout=20)
    assert len(msgs) == 2
    assert msgs[0]["text"].rstrip().endswith("```") and msgs[1]["text"].startswith("```\n")
    assert all(m["text"].count("```") % 2 == 0 for m in msgs)


def test_twenty_concurrent_conversations_are_all_correct(bot, slack, model):
    model.responder = lambda body: Plan(tokens=words(f"Answer for [{body['messages'][-1]['content']}] done."), delay_s=0.01)
    threads, stamps = [], []
    for i in range(20):
        channel = f"D{i}"
        ts = slack.add_message(channel, f"question {i}")
        stamps.append((channel, ts, i))
        threads.append(threading.Thread(target=bot.post_json, args=(dm(f"question {i}", ts, channel=channel, user=f"U{i}"),)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for channel, ts, i in stamps:
        msgs = wait_for(finished(slack, channel, ts), timeout=30)
        assert [m["text"] for m in msgs] == [f"Answer for [question {i}] done."]
    assert len(model.requests) == 20


def test_stream_recipient_is_the_asking_users_own_team(start_bot, slack, model):
    """Slack Connect / Enterprise Grid: the user's team (event.user_team) differs from the
    workspace the app is installed in (envelope team_id); the stream is addressed to the user.
    (An external team is answered only when allowed: SECURITY.md "Slack Connect".)"""
    bot = start_bot(ALLOWED_EXTERNAL_TEAM_IDS="T9")
    slack.user_teams["U9"] = "T9"
    ts = slack.add_message("C1", "<@UBOT> hello from another org", user="U9")
    envelope = mention("<@UBOT> hello from another org", ts, user="U9")
    envelope["event"].update({"team": "T9", "user_team": "T9"})
    assert bot.post_json(envelope).status == 200
    msgs = wait_for(finished(slack, "C1", ts))
    assert [m["text"] for m in msgs] == [model.default_plan.text]
    start = next(c for c in slack.calls if c["method"] == "chat.startStream")
    assert start.get("ok") is True  # streamed natively, no fallback to update mode
    assert slack.count("chat.update") == 0


def test_twenty_answers_share_slacks_limits_without_a_429_storm(bot, slack, model):
    """Slack's limits are per workspace: here another instance is taken to use half of each tier
    (the fake allows half), which this instance only learns from a 429. Every answer completes,
    exactly, with a bounded number of 429s and never more calls per minute than the fake allows."""
    for method, (count, window_s) in list(slack.limits.items()):
        slack.limits[method] = (count // 2, window_s)
    model.responder = lambda body: Plan(tokens=words(f"[{body['messages'][-1]['content']}] " + "lorem ipsum " * 20), delay_s=0.05)
    threads, stamps = [], []
    for i in range(20):
        ts = slack.add_message(f"D{i}", f"question {i}")
        stamps.append((f"D{i}", ts, i))
        threads.append(threading.Thread(target=bot.post_json, args=(dm(f"question {i}", ts, channel=f"D{i}"),)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for channel, ts, i in stamps:
        msgs = wait_for(finished(slack, channel, ts), timeout=90)
        assert "".join(m["text"] for m in msgs) == f"[question {i}] " + "lorem ipsum " * 20
    # At most the calls already in flight when the first 429 came back (our 18 starts a minute
    # against the fake's 10), each answered once: a 429 on a start is not retried, the answer
    # goes on in update mode; then the budget pauses the method and shrinks this instance's share.
    assert slack.rate_limited.get("chat.startStream", 0) <= 18 - 10, slack.rate_limited
    assert sum(slack.rate_limited.values()) <= 10, slack.rate_limited
    for method, (count, window_s) in slack.limits.items():
        assert slack.max_per_window(method, window_s) <= count, method
