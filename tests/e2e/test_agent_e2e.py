"""Slack's agent messaging experience end to end (issue 19): signed events -> the real function
process -> the Slack fake (agents.sessions.*, setSuggestedPrompts without thread_ts, the native
stop button) and the model fake."""

import threading
import time

from teambot.slack.marks import STOPPED, answer_mark
from tests.e2e.test_answer_e2e import finished
from tests.fakes.openai_api import Plan, words
from tests.harness import dm, event_envelope, wait_for

WRITES = ("chat.startStream", "chat.appendStream", "chat.postMessage", "chat.update")


def first_write_after(slack, since):
    return min(c["time"] for c in slack.calls if c["method"] in WRITES and c["time"] >= since and c["status"] == 200)


def records(bot, message):
    return [r for r in bot.log_records() if r.get("message") == message]


def test_a_dm_is_answered_inside_an_agent_session(start_bot, slack, model):
    slack.agent_view, slack.stop_event_subscribed = True, False
    bot = start_bot()
    model.default_plan = Plan(tokens=words("# Release checklist\n\nFirst freeze the branch."), delay_s=0.02)
    question = "What   do I do before a release?"
    ts = slack.add_message("D1", question)
    asked = time.monotonic()
    assert bot.post_json(dm(question, ts)).status == 200
    wait_for(finished(slack, "D1", ts))
    wait_for(lambda: slack.sessions.get(("D1", ts), {}).get("status") == "active")
    wait_for(lambda: slack.sessions[("D1", ts)].get("renames"))  # the rename follows the finish (answer.py)
    session = slack.sessions[("D1", ts)]
    (first, at), *_ = session["history"]
    assert first == "processing" and at < first_write_after(slack, asked)  # before the first visible text
    assert session["status"] == "active" and session["initiator"] == "U1"
    assert session["created_title"] == "What do I do before a release?"  # from the question, on creation
    assert session["title"] == "Release checklist"
    assert session["renames"] == ["Release checklist"]  # the answer's heading is a better title
    # A second question: the session warning (no agent_session_stopped subscription) logged once.
    ts2 = slack.add_message("D1", "and after?")
    bot.post_json(dm("and after?", ts2))
    wait_for(lambda: slack.sessions.get(("D1", ts2), {}).get("status") == "active")
    assert len(records(bot, "session_warning")) == 1
    assert records(bot, "session_warning")[0]["warning"] == "missing_agent_session_stopped_event_subscription"
    assert "release" not in bot.logs().lower()


def test_the_native_stop_button_closes_the_model_stream_and_ends_processing(start_bot, slack, model):
    slack.agent_view = True
    bot = start_bot()
    model.default_plan = Plan(tokens=words("word " * 400), delay_s=0.02)
    ts = slack.add_message("D1", "write a lot")
    bot.post_json(dm("write a lot", ts))
    wait_for(lambda: any(m.get("streaming") for m in slack.bot_messages("D1", ts)))
    wait_for(lambda: model.requests and model.requests[0].tokens_sent > 5)
    event = slack.stop_click("D1", ts)
    assert event["event"]["streaming_message_ts"]  # Slack stopped the stream it listed
    clicked = time.monotonic()
    assert bot.post_json(event).status == 200
    wait_for(lambda: model.requests[0].hung_up, timeout=5)  # the model stream closed at once
    assert model.requests[0].ended_at - clicked < 3 and not model.requests[0].finished
    wait_for(lambda: [m for m in slack.bot_messages("D1", ts) if (answer_mark(m) or {}).get("state") == STOPPED])
    wait_for(lambda: slack.sessions[("D1", ts)]["status"] == "active")  # moved out of processing by us
    # The answer's own finish can set "active" before the stop handler logs (after its setStatus).
    assert wait_for(lambda: records(bot, "session_stopped"))[0]["local"] == 1


def test_a_native_stop_for_an_answer_written_elsewhere_marks_it_stopped(start_bot, slack, model):
    """The instance that gets the click is not the writer: it marks the stream Slack stopped, so
    the writer's read-back (stream_lifetime.py) sees a stop, not an expiry."""
    slack.agent_view = True
    writer, other = start_bot(), start_bot()
    model.default_plan = Plan(tokens=words("word " * 400), delay_s=0.02)
    ts = slack.add_message("D1", "write a lot")
    writer.post_json(dm("write a lot", ts))
    wait_for(lambda: any(m.get("streaming") for m in slack.bot_messages("D1", ts)))
    wait_for(lambda: model.requests and model.requests[0].tokens_sent > 5)
    # The case under test: the mark lands before the writer's next write fails and it reads the
    # message back. Without an order, a loaded machine can let the writer read first, take the stop
    # for an expiry and go on in a second message. So the writer learns of its appends' outcome
    # only once the other instance has marked the stream and logged.
    slack.held["chat.appendStream"] = release = threading.Event()
    try:
        assert other.post_json(slack.stop_click("D1", ts)).status == 200
        stopped = wait_for(lambda: records(other, "session_stopped"))
    finally:
        release.set()
    wait_for(lambda: model.requests[0].hung_up, timeout=10)  # the writer gave up too
    [answer] = slack.bot_messages("D1", ts)
    assert answer_mark(answer)["state"] == STOPPED and answer["text"].rstrip().endswith("Stopped._")
    wait_for(lambda: slack.sessions[("D1", ts)]["status"] == "active")
    assert stopped[0]["elsewhere"] == 1


def test_a_native_stop_whose_mark_lands_after_the_writer_went_on_still_stops_the_model(start_bot, slack, model):
    """The other order: the writer's append fails and it reads the message back before the other
    instance's mark lands, takes Slack's stop for an expiry and goes on in a second part. The mark
    lands on the closed part; the other instance then stops the part being written."""
    slack.agent_view = True
    writer, other = start_bot(), start_bot()
    model.default_plan = Plan(tokens=words("word " * 400), delay_s=0.02)
    ts = slack.add_message("D1", "write a lot")
    writer.post_json(dm("write a lot", ts))
    wait_for(lambda: model.requests and model.requests[0].tokens_sent > 5)
    # The order under test, made deterministic: the other instance reads the message (no mark yet)
    # while the writer waits for its append's answer; its mark then waits until the writer has read
    # the message back and gone on in a second part.
    slack.held["chat.appendStream"] = appends = threading.Event()
    mark = threading.Event()

    def the_stop_mark(params) -> bool:
        if (answer_mark(params) or {}).get("state") != STOPPED:  # the call's metadata: not the stop mark
            return False
        appends.set()
        return True

    slack.gates.append(("chat.update", the_stop_mark, mark))
    try:
        assert other.post_json(slack.stop_click("D1", ts)).status == 200
        wait_for(lambda: any(m.get("streaming") for m in slack.bot_messages("D1", ts)[1:]))  # it went on
    finally:
        appends.set()
        mark.set()
    wait_for(lambda: model.requests[0].hung_up, timeout=10)
    msgs = wait_for(lambda: [] if any(m.get("streaming") for m in slack.bot_messages("D1", ts)) else slack.bot_messages("D1", ts))
    assert len(msgs) == 2 and [answer_mark(m)["state"] for m in msgs] == [STOPPED, STOPPED]  # no "done" after the stop
    assert msgs[-1]["text"].rstrip().endswith("Stopped._")


def messages_tab(ts, *, user="U1", channel="D1"):
    # docs.slack.dev/reference/events/app_home_opened: user, channel, tab, event_ts
    return event_envelope(
        {"type": "app_home_opened", "user": user, "channel": channel, "tab": "messages", "event_ts": ts}, event_id=f"Evh{ts}"
    )


def test_opening_the_dm_twice_greets_once_and_sets_prompts_each_time(bot, slack, model):
    slack.agent_view = True
    for i in range(2):
        assert bot.post_json(messages_tab(slack.new_ts())).status == 200
        wait_for(lambda i=i: len(slack.prompts) == i + 1)
    assert [p["thread_ts"] for p in slack.prompts] == [None, None]  # agent apps: no thread_ts
    wait_for(lambda: len(records(bot, "messages_tab")) == 2)
    assert len([m for m in slack.messages.values() if m.get("bot_id") == slack.bot_id]) == 1
    assert model.requests == []


def test_setting_prompts_with_thread_ts_in_an_agent_app_is_a_silent_no_op(slack):
    from slack_sdk import WebClient

    slack.agent_view = True
    root = slack.add_message("D1", "hi")
    client = WebClient(token="xoxb-test", base_url=slack.url + "/api/")
    assert client.assistant_threads_setSuggestedPrompts(
        channel_id="D1", thread_ts=root, prompts=[{"title": "a", "message": "b"}]
    )["ok"]
    assert slack.prompts == []


def test_app_context_changed_updates_the_channel_in_view(bot, slack, model):
    slack.agent_view = True
    slack.channels.update({"C8": {"id": "C8", "name": "incident-42", "is_channel": True}})
    # docs.slack.dev/reference/events/app_context_changed (entities by relevance); the user field
    # as Slack's fixtures carry it.
    event = event_envelope(
        {
            "type": "app_context_changed",
            "user": "U1",
            "event_ts": slack.new_ts(),
            "context": {"entities": [{"type": "slack#/types/channel_id", "value": "C8", "team_id": "T1"}]},
        },
        event_id="Evc1",
    )
    assert bot.post_json(event).status == 200
    wait_for(lambda: records(bot, "app_context"))
    ts = slack.add_message("D1", "what is going on?")
    bot.post_json(dm("what is going on?", ts))
    wait_for(finished(slack, "D1", ts))
    assert "#incident-42" in model.requests[0].body["messages"][0]["content"]
