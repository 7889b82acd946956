"""Native streams expire: Slack ends a chat.startStream stream after about 5 minutes
(message_not_in_streaming_state on append and stop, python-slack-sdk#1859). The fake Slack
enforces a configurable lifetime; here it is a second or two.

In-process: SlackReply against the loopback fake through the real SlackOps (the stage itself).
End to end: the function process, with SLACK_STREAM_MAX_AGE_SECONDS set."""

import threading
import time

import pytest

from teambot.core.jobs import Job
from teambot.core.settings import Settings
from teambot.gcp.secret_store import SecretStore
from teambot.slack.budget import TIERS, WriteBudget
from teambot.slack.client import SlackOps
from teambot.slack.marks import STOPPED, STOPPED_NOTE, answer_metadata
from teambot.slack.reply import ReplyGone, SlackReply
from tests.e2e.test_answer_e2e import finished
from tests.fakes.openai_api import Plan, words
from tests.harness import dm, wait_for
from tests.integration.stage_helpers import log_records

TEXT = " ".join(f"word{i}" + ("\n" if i % 7 == 6 else "") for i in range(60))


def states(msgs):
    return [((m.get("metadata") or {}).get("event_payload") or {}).get("state") for m in msgs]


@pytest.fixture
def ops(slack):
    # A roomy write budget: these tests are about the stream's age and
    # Slack's expiry, with writes every few tens of ms; the budget has tests of its own.
    roomy = WriteBudget(tiers={method: (count * 100, window) for method, (count, window) in TIERS.items()})
    return SlackOps(Settings(slack_api_url=slack.url + "/api/"), SecretStore({"SLACK_BOT_TOKEN": "xoxb-test"}), roomy)


def reply_for(slack, ops, **kwargs):
    ts = slack.add_message("D1", "a long question")
    return ts, SlackReply(ops, Job(kind="answer", team="T1", channel="D1", user="U1", message_ts=ts), **kwargs)


def feed(reply, text, seconds):
    tokens = words(text)
    for token in tokens:
        reply.add(token)
        time.sleep(seconds / len(tokens))


def test_stream_is_closed_before_its_age_limit_and_continues_in_a_new_message(slack, ops):
    slack.stream_lifetime_s = 1.2  # generous margins: the machine may be loaded
    ts, reply = reply_for(slack, ops, interval_s=0.05, stream_max_age_s=0.3)
    feed(reply, TEXT, 1.5)
    reply.finish()
    msgs = slack.bot_messages("D1", ts)
    assert "".join(m["text"] for m in msgs) == TEXT
    assert len(msgs) >= 3 and states(msgs) == ["continued"] * (len(msgs) - 1) + ["done"]
    assert not any(m.get("streaming") or m.get("expired") for m in msgs)  # closed by us, never by Slack
    assert slack.count("chat.update") == 0


def test_a_stream_slack_ended_is_completed_with_chat_update_not_cut(slack, ops):
    slack.stream_lifetime_s = 0.3  # Slack ends streams sooner than the writer's age limit
    ts, reply = reply_for(slack, ops, interval_s=0.05, stream_max_age_s=60)
    feed(reply, TEXT, 1.2)
    reply.finish()
    msgs = slack.bot_messages("D1", ts)
    assert "".join(m["text"] for m in msgs) == TEXT
    assert any(m.get("expired") for m in msgs) and slack.count("chat.update") >= 1
    assert states(msgs) == ["continued"] * (len(msgs) - 1) + ["done"]
    assert not any(m.get("streaming") for m in msgs)


def test_an_answer_that_ends_just_after_an_expiry_carries_its_final_mark(slack, ops):
    """Slack ends the stream; the writer completes the message with chat.update and closes it
    "continued", with nothing left over; the answer then ends. That message is the answer's last:
    it gets the final mark (takeover counts the answer complete), not a part that never comes."""
    ts, reply = reply_for(slack, ops, interval_s=0, stream_max_age_s=60)
    reply.add("being written")
    first = reply.message_ts[0]
    slack.stream_lifetime_s = 0.0  # the next append finds the stream ended
    wait_for(
        lambda: reply.add(" more") or states([slack.messages[first]]) == ["continued"]
    )  # each add writes at the budget's next turn
    reply.finish()
    [msg] = slack.bot_messages("D1", ts)
    assert msg["text"] == reply.text and states([msg]) == ["done"] and msg["expired"]


def test_expiry_at_the_final_write_still_writes_everything(slack, ops):
    slack.stream_lifetime_s = 0.2
    ts, reply = reply_for(slack, ops, interval_s=10, stream_max_age_s=60)
    reply.add("first part")
    reply.add(", then more")  # not written yet: the interval has not passed
    time.sleep(0.4)
    reply.finish()
    [msg] = slack.bot_messages("D1", ts)
    assert msg["text"] == "first part, then more" and states([msg]) == ["done"] and msg["expired"]


def test_a_stop_is_told_apart_from_an_expiry(slack, ops):
    slack.stream_lifetime_s = 0.3
    ts, reply = reply_for(slack, ops, interval_s=0, stream_max_age_s=60)
    reply.add("being written")
    # The stop shortcut on another instance, as handlers/stop_generation.py calls it.
    ops.call(
        "chat_stopStream", channel="D1", ts=reply.message_ts[0], markdown_text=STOPPED_NOTE, metadata=answer_metadata("", STOPPED)
    )
    time.sleep(0.4)  # the stream would have expired by now too: the stop still wins
    with pytest.raises(ReplyGone):
        reply.add(" and more")
    [msg] = slack.bot_messages("D1", ts)
    assert msg["text"] == "being written" + STOPPED_NOTE


@pytest.mark.parametrize("closed_by", ["the next append", "a full message"])
def test_a_stop_mark_that_lands_after_the_read_back_still_stops_the_writer(slack, ops, closed_by):
    """Slack's native stop button ends the stream; the other instance's stop mark lands only after
    the writer read the message back (no mark: an expiry, it seemed) and closed it "continued",
    at its next append or because the message was full. The writer looks at that message again
    before it starts the next part, and stops."""
    ts, reply = reply_for(slack, ops, interval_s=0, stream_max_age_s=60, limit=60)
    reply.add("being written")
    first = reply.message_ts[0]
    slack.messages[first]["streaming"] = False  # stopped by Slack, not marked yet
    slack.held["chat.update"] = answered = threading.Event()

    def mark_lands_late():
        wait_for(lambda: states([slack.messages[first]]) == ["continued"])
        with slack.lock:
            slack.messages[first].update(text=slack.messages[first]["text"] + STOPPED_NOTE, metadata=answer_metadata("", STOPPED))
        answered.set()

    threading.Thread(target=mark_lands_late, daemon=True).start()
    with pytest.raises(ReplyGone):  # each add writes once the budget's next turn has come
        if closed_by == "a full message":
            reply.add(" more words" * 10)  # past the 60-character limit
        wait_for(lambda: reply.add(" x"))  # the part is closed, the next would start
    assert slack.count("chat.startStream") == 1 and [m["ts"] for m in slack.bot_messages("D1", ts)] == [first]


@pytest.mark.parametrize("then", ["the answer ends", "more text comes"])
def test_a_stop_mark_on_a_part_closed_by_a_renewal_stops_the_writer(slack, ops, then):
    """The writer renewed its stream (closed the part "continued", nothing left over) just before
    another instance handled a stop there and marked that part: the writer looks at the part it
    closed before it gives it the final mark or starts the next, and stops."""
    now = [0.0]
    ts, reply = reply_for(slack, ops, interval_s=0, stream_max_age_s=10, clock=lambda: now[0])
    reply.add("being written")
    first = reply.message_ts[0]
    now[0] = 11.0  # past the age limit: the next write renews the stream
    wait_for(lambda: reply.add(" more") or states([slack.messages[first]]) == ["continued"])
    with slack.lock:  # the other instance's mark (handlers/stop_generation.py, _went_on)
        slack.messages[first].update(text=slack.messages[first]["text"] + STOPPED_NOTE, metadata=answer_metadata("", STOPPED))
    with pytest.raises(ReplyGone):
        if then == "the answer ends":
            reply.finish()
        else:
            wait_for(lambda: reply.add(" and more"))
    [msg] = slack.bot_messages("D1", ts)
    assert states([msg]) == ["stopped"] and msg["text"].endswith(STOPPED_NOTE) and slack.count("chat.startStream") == 1


def test_a_failed_look_at_the_closed_part_is_logged_and_the_answer_goes_on(slack, ops, capsys):
    now = [0.0]
    ts, reply = reply_for(slack, ops, interval_s=0, stream_max_age_s=10, clock=lambda: now[0])
    reply.add("being written")
    first = reply.message_ts[0]
    now[0] = 11.0
    wait_for(lambda: reply.add(" more") or states([slack.messages[first]]) == ["continued"])
    slack.server_errors["conversations.replies"] = 10
    wait_for(lambda: reply.add(" and more") or len(slack.bot_messages("D1", ts)) == 2)  # went on
    slack.server_errors.clear()
    reply.finish()
    msgs = slack.bot_messages("D1", ts)
    assert "".join(m["text"] for m in msgs) == reply.text and states(msgs)[-1] == "done"
    failed = [r for r in log_records(capsys.readouterr().out) if r.get("message") == "slack_read_failed"]
    assert [(r["degraded"], r["severity"]) for r in failed] == [("stop_not_checked", "ERROR")]


def test_a_deleted_stream_is_gone_not_expired(slack, ops):
    ts, reply = reply_for(slack, ops, interval_s=0)
    reply.add("being written")
    slack.messages[reply.message_ts[0]]["streaming"] = False  # Slack ends a deleted message's stream
    slack.messages[reply.message_ts[0]]["deleted"] = True
    reply.add(" and more")  # may wait for the budget's next turn; the final write never does
    with pytest.raises(ReplyGone):
        reply.finish()
    assert slack.bot_messages("D1", ts) == []


def test_size_rollover_never_repeats_text_a_stream_already_showed(slack, ops):
    ts, reply = reply_for(slack, ops, interval_s=0, limit=200)
    text = "para one " * 5 + "\n\n" + "x" * 150 + " tail words here" * 5
    for token in words(text):
        reply.add(token)  # every token is written: what the stream shows runs close to the limit
    reply.finish()
    msgs = slack.bot_messages("D1", ts)
    assert len(msgs) >= 2 and "".join(m["text"] for m in msgs) == text


# -- end to end ------------------------------------------------------------------------------------
def test_answer_longer_than_a_stream_lifetime_finishes_complete_and_once(start_bot, slack, model):
    slack.stream_lifetime_s = 2.5
    bot = start_bot(SLACK_STREAM_MAX_AGE_SECONDS="0.8", SLACK_UPDATE_INTERVAL_SECONDS="0.2")
    model.default_plan = Plan(tokens=words(TEXT), delay_s=0.07)  # ~4 s: more than one lifetime
    ts = slack.add_message("D1", "a long question")
    bot.post_json(dm("a long question", ts))
    msgs = wait_for(finished(slack, "D1", ts), timeout=30)
    assert "".join(m["text"] for m in msgs) == model.default_plan.text
    assert len(msgs) >= 3 and states(msgs) == ["continued"] * (len(msgs) - 1) + ["done"]
    assert not any(m.get("streaming") or m.get("expired") for m in msgs)
    assert len(model.requests) == 1 and model.requests[0].finished
    record = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "answer"])[0]
    assert record["outcome"] == "done" and record["messages"] == len(msgs)


def test_stream_ended_by_slack_before_the_age_limit_is_completed(start_bot, slack, model):
    slack.stream_lifetime_s = 1.0
    bot = start_bot(SLACK_UPDATE_INTERVAL_SECONDS="0.2")  # default age limit 240 s: Slack ends it first
    model.default_plan = Plan(tokens=words(TEXT), delay_s=0.05)
    ts = slack.add_message("D1", "a long question")
    bot.post_json(dm("a long question", ts))
    msgs = wait_for(finished(slack, "D1", ts), timeout=30)
    assert "".join(m["text"] for m in msgs) == model.default_plan.text
    assert any(m.get("expired") for m in msgs) and not any(m.get("streaming") for m in msgs)
    assert model.requests[0].finished
