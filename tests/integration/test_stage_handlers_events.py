"""Stage: the worker's event and block-action handlers (teambot/handlers/): agent_session_stopped,
agent_view (the Messages tab and app_context_changed), answer_feedback,
assistant_thread_started, assistant_thread_context_changed, mcp_approval (approve, deny and the
scheduled expiry). Each envelope or click is parsed by the real ingress parser and registry and
its real handler runs in this process (tests/integration/handler_stage.py) over SlackOps
(slack_sdk) and the openai SDK; the assertions are on what the Slack and OpenAI fakes saw. The
assistant events' parsing is in test_assistant_units.py (only a malformed one is added here). Started in this
process: the Slack and OpenAI loopback fakes (conftest `slack`, `model`), nothing else."""

from __future__ import annotations

import copy
import json
import threading
import time

import pytest

from teambot.answer.generations import Generation
from teambot.answer.mcp_approvals import EXPIRE_JOB
from teambot.core.errors import BadRequest
from teambot.core.suggested_prompts import DEFAULT_SUGGESTED_PROMPTS
from teambot.handlers.agent_view import GREETING as AGENT_GREETING
from teambot.handlers.answer_feedback import THANKS
from teambot.handlers.assistant_thread_started import GREETING
from teambot.handlers.questions import answer_question, question_from_event
from teambot.slack.blocks import feedback_block
from teambot.slack.marks import CONTEXT_EVENT, CONTINUED, DONE, NOTICE_EVENT, STOPPED, STOPPED_NOTE, answer_metadata
from tests.e2e.test_tools_mcp import SERVERS, approval_plan, approval_prompts, click
from tests.fakes.openai_api import Plan, mcp_call, words
from tests.harness import assistant_thread_event, dm, event_envelope, feedback_click, wait_for
from tests.integration.handler_stage import (
    fresh_process_memory,  # noqa: F401 (autouse fixture)
    make_context,
    parse,
    run,
    said_to,
    state,
    writes,
)
from tests.integration.stage_helpers import log_records


def records(capsys, message) -> list[dict]:
    return [r for r in log_records(capsys.readouterr().out) if r.get("message") == message]


# -- agent_session_stopped ------------------------------------------------------------------------
def processing_session(slack, channel, thread_ts):
    """The thread's agent session as an answer in progress left it (the stop button shows)."""
    slack.sessions[(channel, thread_ts)] = {
        "status": "processing",
        "title": "",
        "created_title": "",
        "initiator": "U1",
        "history": [],
    }


def native_stream(slack, root, text) -> str:
    """An answer of ours being streamed natively (chat.startStream: no metadata until stopped)."""
    return slack.add_message(
        "D1", text, user="UBOT", bot_id="BBOT", thread_ts=root, streaming=True, appends=1, stream_started=time.monotonic()
    )


def test_the_stop_event_becomes_a_job_naming_the_thread_and_its_streams(slack):
    root = slack.add_message("D1", "write a lot")
    processing_session(slack, "D1", root)
    event = slack.stop_click("D1", root)
    event["event"]["streaming_message_ts"] = ["2.000100", 7, None]  # what is not a ts is dropped
    job = parse(event)
    assert (job.kind, job.team, job.channel, job.user, job.message_ts, job.thread_ts) == (
        "agent_session_stopped",
        "T1",
        "D1",
        "U1",
        root,
        root,
    )
    assert job.extra == {"streams": ["2.000100"]} and job.nonce == event["event"]["event_ts"]
    for field in ("thread_ts", "channel", "user"):
        broken = copy.deepcopy(event)
        broken["event"].pop(field)
        with pytest.raises(BadRequest):
            parse(broken)


def test_a_native_stop_of_an_answer_written_elsewhere_marks_it_stopped_and_ends_processing(slack, model):
    ctx = make_context(slack, model)
    root = slack.add_message("D1", "write a lot")
    streaming = native_stream(slack, root, "word word")
    done = slack.add_message(
        "D1", "an earlier answer", user="UBOT", bot_id="BBOT", thread_ts=root, metadata=answer_metadata(root, DONE)
    )
    processing_session(slack, "D1", root)
    event = slack.stop_click("D1", root)  # Slack stops the stream itself
    event["event"]["streaming_message_ts"].append(done)
    run(ctx, event)
    # The writer's read-back (stream_lifetime.py) must see a stop, not an expiry: the stop mark.
    stopped = slack.messages[streaming]
    assert stopped["text"] == "word word" + STOPPED_NOTE and stopped["metadata"] == answer_metadata("", STOPPED)
    assert slack.messages[done]["text"] == "an earlier answer" and state(slack.messages[done]) == DONE  # left alone
    assert slack.sessions[("D1", root)]["status"] == "active"
    assert model.requests == []


def test_a_native_stop_whose_mark_lands_after_the_writer_went_on_stops_the_later_part(slack, model):
    """The writer read the message back before the mark landed, took Slack's stop for an expiry,
    closed the part ("continued") and went on in a new stream: that one is stopped too."""
    ctx = make_context(slack, model)
    root = slack.add_message("D1", "write a lot")
    first = native_stream(slack, root, "word word")
    processing_session(slack, "D1", root)
    event = slack.stop_click("D1", root)  # Slack stops the stream itself
    later = []

    def writer_went_on(params) -> bool:  # just before the stop mark arrives, as the writer does it
        if state(params) == STOPPED and not later:  # the call's metadata: the stop mark
            slack.messages[first]["metadata"] = answer_metadata(root, CONTINUED)
            later.append(native_stream(slack, root, " word"))
        return False

    slack.gates.append(("chat.update", writer_went_on, threading.Event()))
    run(ctx, event)
    [second] = later
    assert state(slack.messages[first]) == STOPPED  # the mark landed over "continued"
    message = slack.messages[second]
    assert not message["streaming"] and message["text"] == " word" + STOPPED_NOTE and state(message) == STOPPED
    assert slack.sessions[("D1", root)]["status"] == "active"


def test_a_native_stop_mark_the_writer_closed_over_is_written_again(slack, model):
    """The writer's "continued" landed over the mark, and it has no later part yet: the mark is
    written again, for the look the writer takes at the closed part before it starts the next."""
    ctx = make_context(slack, model)
    root = slack.add_message("D1", "write a lot")
    first = native_stream(slack, root, "word word")
    processing_session(slack, "D1", root)
    event = slack.stop_click("D1", root)
    slack.held["chat.update"] = answered = threading.Event()

    def writer_closes_over_the_mark():
        wait_for(lambda: state(slack.messages[first]) == STOPPED)
        with slack.lock:
            slack.messages[first].update(text="word word", metadata=answer_metadata(root, CONTINUED))
        answered.set()

    threading.Thread(target=writer_closes_over_the_mark, daemon=True).start()
    run(ctx, event)
    message = slack.messages[first]
    assert message["text"] == "word word" + STOPPED_NOTE and message["metadata"] == answer_metadata(root, STOPPED)
    assert [m["ts"] for m in slack.bot_messages("D1", root)] == [first]


def test_a_native_stop_leaves_alone_the_answer_to_a_question_asked_since(slack, model):
    """The user stops an answer and asks something else at once; its answer streams (natively,
    unmarked) before the stop is handled here: it is not taken for the stopped answer's next part."""
    ctx = make_context(slack, model)
    root = slack.add_message("D1", "write a lot")
    first = native_stream(slack, root, "word word")
    processing_session(slack, "D1", root)
    event = slack.stop_click("D1", root)
    slack.add_message("D1", "something else", thread_ts=root)
    other = native_stream(slack, root, "another answer")
    run(ctx, event)
    assert state(slack.messages[first]) == STOPPED
    assert slack.messages[other]["streaming"] and slack.messages[other]["text"] == "another answer"


def test_a_native_stop_of_a_part_closed_before_anything_followed_marks_it(slack, model):
    """The writer's "continued" landed before the stop was handled, and it has not started the
    next part: the closed part gets the mark, which the writer reads before it starts one."""
    ctx = make_context(slack, model)
    root = slack.add_message("D1", "write a lot")
    first = native_stream(slack, root, "word word")
    processing_session(slack, "D1", root)
    event = slack.stop_click("D1", root)
    slack.messages[first]["metadata"] = answer_metadata(root, CONTINUED)
    run(ctx, event)
    message = slack.messages[first]
    assert message["text"] == "word word" + STOPPED_NOTE and message["metadata"] == answer_metadata(root, STOPPED)


def test_a_failure_after_the_stop_mark_is_logged_and_the_stop_still_counts(slack, model, capsys):
    ctx = make_context(slack, model)
    root = slack.add_message("D1", "write a lot")
    first = native_stream(slack, root, "word word")
    processing_session(slack, "D1", root)
    event = slack.stop_click("D1", root)

    def reads_fail_from_now_on(params) -> bool:
        if state(params) == STOPPED:
            slack.server_errors["conversations.replies"] = 10
        return False

    slack.gates.append(("chat.update", reads_fail_from_now_on, threading.Event()))
    run(ctx, event)
    assert state(slack.messages[first]) == STOPPED and slack.sessions[("D1", root)]["status"] == "active"
    out = capsys.readouterr().out
    [failed] = [r for r in log_records(out) if r.get("message") == "stop_follow_up_failed"]
    assert failed["severity"] == "ERROR" and failed["slack_error"] == "internal_error"
    [stopped] = [r for r in log_records(out) if r.get("message") == "session_stopped"]
    assert stopped["elsewhere"] == 1


def test_a_native_stop_of_an_answer_written_here_cancels_it_without_touching_slacks_messages(slack, model):
    ctx = make_context(slack, model)
    root = slack.add_message("D1", "write a lot")
    native_stream(slack, root, "word word")  # the writer here finalizes it, not the stop
    generation = Generation()
    ctx.generations.register_thread("D1", root, generation)
    processing_session(slack, "D1", root)
    run(ctx, slack.stop_click("D1", root))
    assert generation.cancelled.is_set()  # the answer loop writes the stop itself
    assert writes(slack) == [] and slack.sessions[("D1", root)]["status"] == "active"


# -- agent_view: the Messages tab and app_context_changed -----------------------------------------
def messages_tab(ts, *, user="U1", channel="D1", tab="messages"):
    return event_envelope(
        {"type": "app_home_opened", "user": user, "channel": channel, "tab": tab, "event_ts": ts}, event_id=f"Evh{ts}"
    )


def test_the_messages_tab_event_becomes_a_job_and_a_broken_one_is_refused():
    job = parse(messages_tab("1700000000.000100"))
    assert (job.kind, job.team, job.channel, job.user, job.message_ts, job.channel_type) == (
        "messages_tab",
        "T1",
        "D1",
        "U1",
        "1700000000.000100",
        "im",
    )
    assert parse(messages_tab("1.000001", tab="home")).kind == "app_home"  # the Home tab's handler
    broken = messages_tab("1.000001")
    del broken["event"]["user"]
    with pytest.raises(BadRequest):
        parse(broken)


def test_opening_the_dm_greets_once_and_sets_the_prompts_every_time_without_thread_ts(slack, model):
    slack.agent_view = True
    ctx = make_context(slack, model)
    for _ in range(2):
        run(ctx, messages_tab(slack.new_ts()))
    [greeting] = [m for m in slack.messages.values() if m.get("bot_id") == slack.bot_id]
    assert greeting["text"] == AGENT_GREETING and greeting["metadata"]["event_type"] == NOTICE_EVENT
    assert [(p["channel"], p["thread_ts"], p["prompts"]) for p in slack.prompts] == [
        ("D1", None, list(DEFAULT_SUGGESTED_PROMPTS))
    ] * 2
    assert model.requests == []


def test_the_messages_tab_does_nothing_for_people_the_bot_does_not_serve(slack, model):
    slack.agent_view = True
    run(make_context(slack, model, ALLOWED_USER_IDS="U9"), messages_tab(slack.new_ts()))
    assert slack.calls == [] and slack.prompts == []


def context_changed(entities, *, user="U1"):
    event = {"type": "app_context_changed", "event_ts": "1700000000.000300", "context": {"entities": entities}}
    return event_envelope({**event, **({"user": user} if user else {})}, event_id="Evc1")


def test_the_channel_in_view_is_kept_for_the_next_dm_answer(slack, model, capsys):
    ctx = make_context(slack, model)
    slack.channels["C8"] = {"id": "C8", "name": "incident-42", "is_channel": True}
    entities = [
        {"type": "slack#/types/user_id", "value": "U3"},
        {"type": "slack#/types/channel_id", "value": "C8", "team_id": "T1"},
    ]
    job = parse(context_changed(entities))
    assert (job.kind, job.user, job.channel, job.extra) == (
        "app_context_changed",
        "U1",
        "U1",
        {"context": {"channel_id": "C8", "team_id": "T1"}},
    )
    assert parse(context_changed(entities, user=None)) is None  # nobody to remember it for
    assert parse(context_changed([])).extra == {"context": {}}
    run(ctx, job)
    assert ctx.services.views[("T1", "U1")] == {"channel_id": "C8", "team_id": "T1"}
    ts = slack.add_message("D1", "what is going on?")
    answer_question(ctx, question_from_event(dm("what is going on?", ts), ctx.settings))
    assert "#incident-42" in model.requests[0].body["messages"][0]["content"]
    run(ctx, parse(context_changed([])))  # the user left the channel: forgotten
    assert ctx.services.views[("T1", "U1")] == {}


# -- answer_feedback ------------------------------------------------------------------------------
def answered(slack, model="test-model") -> dict:
    q = slack.add_message("D1", "Is this right?")
    ts = slack.add_message(
        "D1", "Yes.", user="UBOT", bot_id="BBOT", thread_ts=q, metadata=answer_metadata(q, DONE),
        blocks=[{"type": "markdown", "text": "Yes."}, feedback_block(model)],
    )  # fmt: skip
    return slack.messages[ts]


def test_feedback_is_thanked_and_logged_with_rating_and_model_only(slack, model, capsys):
    ctx = make_context(slack, model)
    answer = answered(slack)
    run(ctx, feedback_click(answer, "good", user="U1", action_ts="1700000001.000001"))
    run(ctx, feedback_click(answer, "bad", user="U2", action_ts="1700000002.000001"))
    assert said_to(slack, "U1") == [THANKS["good"]] and said_to(slack, "U2") == [THANKS["bad"]]
    logged = records(capsys, "feedback")
    assert [(r["user"], r["rating"], r["model"], r["message_ts"]) for r in logged] == [
        ("U1", "good", "test-model", answer["ts"]),
        ("U2", "bad", "test-model", answer["ts"]),
    ]
    assert "Yes." not in json.dumps(logged) and model.requests == [] and writes(slack) == []


def test_a_feedback_click_with_a_value_we_did_not_write_is_ignored(slack, model):
    ctx = make_context(slack, model)
    click_ = feedback_click(answered(slack), "good")
    click_["actions"][0]["value"] = "not ours"
    run(ctx, click_)
    assert slack.ephemerals == [] and slack.calls == []
    broken = feedback_click(answered(slack), "good")
    broken["container"] = None
    with pytest.raises(BadRequest):
        parse(broken)


# -- assistant_thread_started / assistant_thread_context_changed ----------------------------------
def panel(slack) -> str:
    return slack.add_message("D1", "New chat", user="U1", subtype="assistant_app_thread")


def context_of(slack, root) -> dict:
    [greeting] = slack.bot_messages("D1", root)
    assert greeting["metadata"]["event_type"] == CONTEXT_EVENT and greeting["text"] == GREETING
    return greeting["metadata"]["event_payload"]


def test_a_new_ai_panel_thread_is_greeted_once_with_its_context_and_prompts(slack, model):
    ctx = make_context(slack, model)
    root = panel(slack)
    event = assistant_thread_event("assistant_thread_started", root, context_channel="C7")
    run(ctx, event)
    assert context_of(slack, root) == {"channel_id": "C7", "team_id": "T1"}
    [prompts] = slack.prompts
    assert (prompts["channel"], prompts["thread_ts"], prompts["prompts"]) == ("D1", root, list(DEFAULT_SUGGESTED_PROMPTS))
    run(ctx, event, delivery=1)  # a redelivery finds its greeting there
    assert len(slack.bot_messages("D1", root)) == 1 and model.requests == []


def test_the_ai_panel_events_do_nothing_for_people_the_bot_does_not_serve(slack, model):
    ctx = make_context(slack, model, ALLOWED_USER_IDS="U9")
    root = panel(slack)
    run(ctx, assistant_thread_event("assistant_thread_started", root))
    run(ctx, assistant_thread_event("assistant_thread_context_changed", root, context_channel="C8"))
    assert slack.calls == [] and slack.prompts == []


def test_a_context_change_is_saved_in_the_greeting_once_and_kept_if_it_came_first(slack, model):
    ctx = make_context(slack, model)
    root = panel(slack)
    run(ctx, assistant_thread_event("assistant_thread_context_changed", root, context_channel="C5"))
    assert context_of(slack, root)["channel_id"] == "C5"  # overtook the start: posted with a greeting
    run(ctx, assistant_thread_event("assistant_thread_started", root, context_channel="C5"))
    run(ctx, assistant_thread_event("assistant_thread_context_changed", root, context_channel="C8"))
    assert context_of(slack, root) == {"channel_id": "C8", "team_id": "T1"}  # saved in the one greeting
    updates = slack.count("chat.update")
    run(ctx, assistant_thread_event("assistant_thread_context_changed", root, context_channel="C8"))
    assert slack.count("chat.update") == updates == 1  # unchanged: no write
    broken = assistant_thread_event("assistant_thread_context_changed", root)
    del broken["event"]["assistant_thread"]
    with pytest.raises(BadRequest):
        parse(broken)


# -- mcp_approval ---------------------------------------------------------------------------------
def ask_for_approval(slack, model):
    """A DM question whose model response asks to call an MCP tool: the real answer path posts
    the approval prompt and schedules its expiry."""
    scheduled = []
    ctx = make_context(slack, model, scheduled=scheduled, OPENAI_API="responses", MCP_SERVERS=json.dumps(SERVERS))
    model.plans.append(approval_plan())
    ts = slack.add_message("D1", "Who is our contact at ACME?")
    answer_question(ctx, question_from_event(dm("Who is our contact at ACME?", ts), ctx.settings))
    prompt = copy.deepcopy(approval_prompts(slack, "D1", ts)[0])  # as the client shows it, buttons and all
    [(expiry, delay_s)] = scheduled
    assert (expiry.kind, expiry.message_ts, delay_s) == (EXPIRE_JOB, prompt["ts"], 600.0)
    return ctx, ts, prompt, expiry


def buttons(slack, ts) -> bool:
    return any(b.get("type") == "actions" for b in slack.messages[ts].get("blocks") or [])


def test_an_approval_click_becomes_a_job_with_its_value(slack, model):
    ctx, ts, prompt, _ = ask_for_approval(slack, model)
    job = parse(click(prompt, "mcp_approve", user="U2"))
    assert (job.kind, job.channel, job.user, job.message_ts, job.thread_ts) == ("mcp_approve", "D1", "U2", prompt["ts"], ts)
    assert json.loads(job.extra["value"])["r"] == model.requests[0].response_id
    assert parse(click(prompt, "mcp_deny")).kind == "mcp_deny"
    broken = click(prompt, "mcp_approve")
    broken["user"] = {}
    with pytest.raises(BadRequest):
        parse(broken)


def test_the_askers_approval_resumes_the_answer_once_and_anyone_elses_is_refused(slack, model):
    ctx, ts, prompt, expiry = ask_for_approval(slack, model)
    run(ctx, click(prompt, "mcp_approve", user="U2"))
    assert said_to(slack, "U2") == ["Only <@U1> can approve or deny this tool call."]
    assert buttons(slack, prompt["ts"]) and len(model.requests) == 1  # nothing else happened
    model.plans.append(
        Plan(
            tokens=words("Jane Doe."),
            items=[mcp_call("find_customer", {"name": "ACME"}, server_label="crm", output="Jane", approval_request_id="mcpr_1")],
        )
    )
    approve = click(prompt, "mcp_approve")
    run(ctx, approve)
    assert "approved calling *find_customer* on *crm*" in slack.messages[prompt["ts"]]["text"] and not buttons(
        slack, prompt["ts"]
    )
    resumed = model.requests[1].body
    assert resumed["previous_response_id"] == model.requests[0].response_id
    assert resumed["input"] == [{"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": True}]
    # previous_response_id carries the conversation, not the instructions: they travel again.
    assert resumed["instructions"].startswith("You are a helpful assistant") and resumed["tools"][0]["server_label"] == "crm"
    assert any(m["text"].startswith("Jane Doe.") for m in slack.bot_messages("D1", ts))
    # A double click and the expiry job later both find the request answered (claims.py).
    run(ctx, {**approve, "actions": [{**approve["actions"][0], "action_ts": "9.000001"}]})
    run(ctx, expiry)
    assert len(model.requests) == 2 and "approved" in slack.messages[prompt["ts"]]["text"]


def test_a_denied_request_ends_the_answer_politely_without_the_model(slack, model):
    ctx, ts, prompt, _ = ask_for_approval(slack, model)
    run(ctx, click(prompt, "mcp_deny"))
    assert "denied calling *find_customer*" in slack.messages[prompt["ts"]]["text"] and not buttons(slack, prompt["ts"])
    assert any("OK, I didn't call *find_customer*" in m["text"] for m in slack.bot_messages("D1", ts))
    assert len(model.requests) == 1


def test_an_unanswered_request_expires_and_a_late_click_changes_nothing(slack, model):
    ctx, ts, prompt, expiry = ask_for_approval(slack, model)
    run(ctx, expiry)
    assert "expired (no answer in 10 minutes)" in slack.messages[prompt["ts"]]["text"] and not buttons(slack, prompt["ts"])
    [notice] = [m for m in slack.bot_messages("D1", ts) if "nobody approved it" in m["text"]]
    run(ctx, click(prompt, "mcp_approve"))
    assert len(model.requests) == 1 and len([m for m in slack.bot_messages("D1", ts) if "nobody approved it" in m["text"]]) == 1
    assert said_to(slack, "U1") == []
