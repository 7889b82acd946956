"""Stage: the worker (teambot/answer/worker.py) and the answer pipeline (teambot/answer/pipeline.py),
in-process. A job (a DM, an @mention) goes through the real Worker of the real App (its registry
loaded by teambot.handlers: the kind picks the handler), the real SlackOps (slack_sdk) and the real
openai SDK, against the loopback Slack and OpenAI fakes, which run as threads in this process (the
`slack` and `model` fixtures). No function process is started: `Worker.run` is called directly, as
the task route or the in-process hand-off calls it, on this thread (or on one thread of the test's
for a stop mid-answer).

Covered: thread history -> model messages (the bot's notices left out), the answer streamed to
Slack natively (chat.startStream / appendStream / stopStream) or in update mode (the fake refusing
native streaming), the final answer mark (slack/marks.py), exactly-once on a redelivered job
(takeover.py), model failures shown as a :warning: note and logged, an unexpected failure logged
once with its trace and its reference shown, a stop (generations.py) closing the model stream and
leaving the "stopped" mark, and an unknown job kind refused and logged."""

from __future__ import annotations

import json
import threading
import time

import pytest

from teambot.ack.payloads import job_from_interaction
from teambot.core.errors import SecretUnavailable
from teambot.core.jobs import Job
from teambot.core.registry import Handler, Registry
from teambot.handlers.questions import question_from_event
from teambot.slack.marks import STOPPED_NOTE, answer_metadata, notice_metadata
from tests.fakes.openai_api import BrokenFrameOpenAI, Plan, web_search, words
from tests.fakes.secret_manager import FakeSecretManager
from tests.harness import dm, mention, shortcut, wait_for
from tests.integration.stage_helpers import log_records, make_app

SECRETS = ("xoxb-test", "sk-test")


@pytest.fixture
def worker(slack, model, monkeypatch):
    """worker(**env) -> the real Worker of an App built from bot_env(slack, model, **env)."""
    monkeypatch.delenv("GCE_METADATA_HOST", raising=False)  # literal secrets: no Google token wanted

    def build(**env):
        app = make_app(slack, model, **env)
        return app.worker()

    return build


def question(worker, envelope) -> Job:
    """The Job ingress would hand over for `envelope` (the answer handler's own parser)."""
    return question_from_event(envelope, worker.services.settings)


def records(capsys, message: str | None = None) -> list[dict]:
    found = log_records(capsys.readouterr().out)
    return [r for r in found if message is None or r.get("message") == message]


def mark(message: dict) -> dict:
    return (message.get("metadata") or {}).get("event_payload") or {}


def no_text_or_secret_in(lines: list[dict], *texts: str) -> None:
    dumped = json.dumps(lines)
    for text in (*texts, *SECRETS):
        assert text not in dumped, text


# -- the answer, streamed ---------------------------------------------------------------------
@pytest.mark.parametrize("api", ["chat_completions", "responses"])
def test_a_dm_is_streamed_natively_and_ends_with_the_done_mark(worker, slack, model, capsys, api):
    # Tokens slower than the write interval: the answer is seen growing (appends), not in one write.
    model.default_plan = Plan(tokens=words("Paris is the capital of France."), delay_s=0.03)
    w = worker(SLACK_UPDATE_INTERVAL_SECONDS="0.05", OPENAI_API=api)
    ts = slack.add_message("D1", "Capital of France?")
    w.run(question(w, dm("Capital of France?", ts)))
    [answer] = slack.bot_messages("D1", ts)
    assert answer["text"] == "Paris is the capital of France." and answer["thread_ts"] == ts
    assert not answer["streaming"]
    assert mark(answer) == {"reply_to": ts, "state": "done"}
    assert (slack.count("chat.startStream"), slack.count("chat.stopStream"), slack.count("chat.postMessage")) == (1, 1, 0)
    # Streamed: the stream started with the first words, before the model had finished (appends
    # come at most every 0.8 s per answer, the write budget's share of Tier 4: none in 0.2 s).
    [start] = [c for c in slack.calls if c["method"] == "chat.startStream"]
    assert 0 < start["text_len"] < len(answer["text"])
    assert ("input" in model.requests[0].body) == (api == "responses")
    assert model.requests[0].messages[-1] == {"role": "user", "content": "Capital of France?"}
    lines = records(capsys)
    [done] = [r for r in lines if r.get("message") == "answer"]
    assert (done["outcome"], done["mode"], done["delivery"]) == ("done", "native", 0)
    assert (done["prompt_tokens"], done["completion_tokens"]) == (42, len(model.default_plan.tokens))
    no_text_or_secret_in(lines, "Capital of France", "Paris")


def test_a_mention_in_a_thread_sends_its_history_without_the_bots_notices(worker, slack, model):
    root = slack.add_message("C1", "<@UBOT> what is a monad?", user="U1")
    slack.add_message(
        "C1",
        "A monad is a monoid in the category of endofunctors.",
        user="UBOT",
        bot_id="BBOT",
        thread_ts=root,
        metadata=answer_metadata(root, "done"),
    )
    # A notice (a refusal, an error) is for people only: never a turn the model sees.
    slack.add_message(
        "C1", "You've reached your usage limit.", user="UBOT", bot_id="BBOT", thread_ts=root, metadata=notice_metadata(root)
    )
    slack.add_message("C1", "beep from another bot", user="UOTHER", bot_id="BOTHER", thread_ts=root)
    ts = slack.add_message("C1", "<@UBOT> and in plain words?", user="U2", thread_ts=root)
    w = worker()
    w.run(question(w, mention("<@UBOT> and in plain words?", ts, user="U2", thread_ts=root)))
    sent = model.requests[0].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1:] == [
        {"role": "user", "content": "<@U1>: what is a monad?"},
        {"role": "assistant", "content": "A monad is a monoid in the category of endofunctors."},
        {"role": "user", "content": "<@U2>: and in plain words?"},
    ]
    assert "usage limit" not in json.dumps(sent) and "<@UBOT>" not in json.dumps(sent)
    answer = slack.bot_messages("C1", root)[-1]
    assert answer["text"] == model.default_plan.text and mark(answer) == {"reply_to": ts, "state": "done"}
    # A channel stream is addressed to the asker (chat.startStream's recipient fields).
    assert slack.count("chat.startStream") == 1


def test_native_streaming_refused_falls_back_to_update_mode(worker, slack, model, capsys):
    slack.native_refusal = "feature_not_enabled"  # as e2e: the workspace has no native streaming
    model.default_plan = Plan(tokens=words("one two three four"))
    w = worker()
    ts = slack.add_message("D1", "count")
    w.run(question(w, dm("count", ts)))
    [answer] = slack.bot_messages("D1", ts)
    assert answer["text"] == "one two three four"
    assert mark(answer) == {"reply_to": ts, "state": "done"}
    assert slack.count("chat.postMessage") == 1 and slack.count("chat.update") >= 1
    assert slack.count("chat.appendStream") == 0 and slack.count("chat.stopStream") == 0
    [done] = records(capsys, "answer")
    assert (done["outcome"], done["mode"]) == ("done", "update")


# -- exactly once -----------------------------------------------------------------------------
def test_a_redelivered_job_whose_answer_is_in_the_thread_is_not_answered_again(worker, slack, model, capsys):
    w = worker()
    ts = slack.add_message("D1", "hello")
    job = question(w, dm("hello", ts))
    w.run(job)
    assert len(model.requests) == 1
    capsys.readouterr()
    # Cloud Tasks delivers the same task again (the first attempt's response was lost).
    w.run(job, delivery=1)
    assert len(model.requests) == 1
    assert [m["text"] for m in slack.bot_messages("D1", ts)] == [model.default_plan.text]
    [skipped] = records(capsys, "answer")
    assert (skipped["outcome"], skipped["delivery"]) == ("duplicate_delivery", 1)


def test_a_redelivery_takes_over_a_partial_native_stream_and_answers_once(worker, slack, model, capsys):
    ts = slack.add_message("D1", "tell me")
    # What an instance that died mid-answer leaves: an open native stream, with no metadata yet.
    partial = slack.add_message(
        "D1", "Half an ans", user="UBOT", bot_id="BBOT", thread_ts=ts, streaming=True, appends=3, stream_started=time.monotonic()
    )
    w = worker()
    job = question(w, dm("tell me", ts))
    w.run(job, delivery=1)
    assert slack.messages[partial]["deleted"]
    stop = next(c for c in slack.calls if c["method"] == "chat.stopStream" and c["ts"] == partial)
    assert stop["ok"] is True  # ended as a stop first, so a writer still alive would give up
    assert [m["text"] for m in slack.bot_messages("D1", ts)] == [model.default_plan.text]
    assert len(model.requests) == 1
    takeover = records(capsys, "takeover")
    assert [(r["messages"], r["failed"], r["delivery"]) for r in takeover] == [(1, 0, 1)]


def test_a_first_delivery_does_not_take_over_an_unmarked_message(worker, slack, model):
    ts = slack.add_message("D1", "tell me")
    other = slack.add_message(
        "D1",
        "someone's stream",
        user="UBOT",
        bot_id="BBOT",
        thread_ts=ts,
        streaming=True,
        appends=1,
        stream_started=time.monotonic(),
    )
    w = worker()
    w.run(question(w, dm("tell me", ts, thread_ts=ts)))
    assert not slack.messages[other].get("deleted") and slack.messages[other]["streaming"]
    assert len(model.requests) == 1  # answered beside it, not instead of it


# -- failures are visible ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "plan, shown, kind",
    [
        (Plan(fail="401"), "refused the API key (401)", "auth"),
        (Plan(tokens=words("this answer will be cut"), fail="cut", fail_after=3), "cut off", "stream_cut"),
    ],
    ids=["401", "cut"],
)
def test_a_model_error_is_shown_in_the_thread_and_logged(worker, slack, model, capsys, plan, shown, kind):
    model.default_plan = plan
    w = worker()
    ts = slack.add_message("D1", "hi there")
    w.run(question(w, dm("hi there", ts)))
    [answer] = slack.bot_messages("D1", ts)
    assert ":warning:" in answer["text"] and shown in answer["text"]
    assert mark(answer) == {"reply_to": ts, "state": "error"}
    assert not answer["streaming"]
    if plan.fail == "cut":
        assert answer["text"].startswith("this answer")  # what was written stays, the note below it
    else:
        assert answer["text"].startswith(":warning:")
    lines = records(capsys)
    assert [r["outcome"] for r in lines if r.get("message") == "answer"] == [kind]
    assert not [r for r in lines if r.get("severity") == "ERROR"]  # an expected failure: no trace
    no_text_or_secret_in(lines, "hi there", "this answer")


def test_an_unreadable_model_stream_is_logged_once_with_its_trace_and_the_reference_shown(worker, slack, capsys):
    broken = BrokenFrameOpenAI()
    broken.frame = b'data: {"choices": "not a list"}\n\n'  # JSON of the wrong shape
    broken.start()
    try:
        w = worker(OPENAI_BASE_URL=broken.url + "/v1")
        ts = slack.add_message("D1", "Tell me something")
        w.run(question(w, dm("Tell me something", ts)))
    finally:
        broken.stop()
    lines = records(capsys)
    [error] = [r for r in lines if r.get("severity") == "ERROR"]
    assert error["message"] == "model_stream_unreadable"
    assert error["stack_trace"].startswith("Traceback (most recent call last):\n") and "answer/model.py" in error["stack_trace"]
    [answer] = slack.bot_messages("D1", ts)
    assert error["error_id"] in answer["text"] and "connection" not in answer["text"].lower()
    assert mark(answer)["state"] == "error"
    assert [r["outcome"] for r in lines if r.get("message") == "answer"] == ["stream_unreadable"]
    no_text_or_secret_in(lines, "Tell me something")


def test_a_slack_timeout_mid_answer_is_logged_once_with_its_trace_and_the_reference_shown(worker, slack, model, capsys):
    # Not one of Slack's documented errors: the final chat.stopStream (and its retry) time out.
    slack.hang, slack.hang_s = {"chat.stopStream": 5}, 1.0
    w = worker(SLACK_TIMEOUT_SECONDS="0.5")  # long enough for the calls that do not hang, under load
    ts = slack.add_message("D1", "hi there")
    w.run(question(w, dm("hi there", ts)))  # must not raise
    lines = records(capsys)
    [error] = [r for r in lines if r.get("severity") == "ERROR"]
    assert (error["message"], error["error"]) == ("answer_failed", "TimeoutError")
    assert error["stack_trace"].startswith("Traceback (most recent call last):\n")
    # The answer could not be ended: the note goes alone, as a notice the model never reads.
    [notice] = [m for m in slack.bot_messages("D1", ts) if error["error_id"] in m["text"]]
    assert notice["text"].startswith(":warning: Something went wrong while writing this answer")
    assert notice["metadata"] == notice_metadata(ts)
    assert [r["outcome"] for r in lines if r.get("message") == "answer"] == ["error_TimeoutError"]
    no_text_or_secret_in(lines, "hi there", "Hello")


@pytest.fixture
def secret_outage(worker):
    """A worker whose SLACK_BOT_TOKEN lives in a Secret Manager that answers 503 to everything."""
    sm = FakeSecretManager().start()
    sm.set("bot-token", "xoxb-test")
    sm.down = True
    yield worker(SLACK_BOT_TOKEN=sm.ref("bot-token"), SECRET_MANAGER_ENDPOINT=sm.url)
    sm.stop()


def test_an_unreadable_bot_token_is_raised_for_a_retry_before_anything_is_shown(secret_outage, slack, model, capsys):
    ts = slack.add_message("D1", "hi there")
    # The one exception the worker lets through: the task route answers 503 and Cloud Tasks retries.
    with pytest.raises(SecretUnavailable):
        secret_outage.run(question(secret_outage, dm("hi there", ts)))
    assert slack.calls == [] and model.requests == []
    [cause] = records(capsys, "secret_unavailable")
    assert (cause["secret"], cause["http_status"]) == ("SLACK_BOT_TOKEN", 503) and "retry" in cause["likely_cause"]


def test_an_unreadable_bot_token_is_one_error_line_without_a_trace(secret_outage, slack, capsys):
    ts = slack.add_message("D1", "hi there")
    with pytest.raises(SecretUnavailable):
        secret_outage.run(question(secret_outage, dm("hi there", ts)))
    errors = [r for r in records(capsys) if r.get("severity") == "ERROR"]
    assert [r["message"] for r in errors] == ["secret_unavailable"] and "stack_trace" not in errors[0]


def test_a_job_that_crashes_is_logged_once_with_its_trace_and_the_asker_told(worker, slack, model, capsys):
    def crashing(ctx, job):
        return None.missing  # a bug in a handler

    w = worker()
    registry = Registry()
    registry.add(Handler("answer", crashing))
    registry.add(Handler("assistant_thread_started", crashing))
    w.registry = registry
    ts = slack.add_message("C1", "<@UBOT> hi")
    w.run(Job(kind="answer", team="T1", channel="C1", user="U1", message_ts=ts, text="<@UBOT> hi"))  # must not raise
    w.run(Job(kind="assistant_thread_started", team="T1", channel="D1", user="U1", message_ts=ts))
    lines = records(capsys)
    errors = [r for r in lines if r.get("severity") == "ERROR"]
    assert [(r["message"], r["kind"]) for r in errors] == [("job_failed", "answer"), ("job_failed", "assistant_thread_started")]
    assert all(r["stack_trace"].startswith("Traceback") and "AttributeError" in r["stack_trace"] for r in errors)
    # Only the person who asked is told (ephemeral), with the reference of the log line; an event
    # nobody asked for (the AI panel opening) stays silent.
    [told] = slack.ephemerals
    assert (told["channel"], told["user"]) == ("C1", "U1")
    assert errors[0]["error_id"] in told["text"] and "Something went wrong on our side" in told["text"]
    no_text_or_secret_in(lines, "<@UBOT> hi")


# -- stop -------------------------------------------------------------------------------------
def run_then_stop(w, job, ts, shown) -> None:
    """Run `job` on a thread; once `shown()` holds, cancel its Generation as the native stop
    button finds it (by thread), and wait for the run to end."""
    runner = threading.Thread(target=w.run, args=(job,))
    runner.start()
    try:
        wait_for(shown)
        [generation] = w.services.generations.in_thread("D1", ts)
        generation.cancel()
        wait_for(lambda: not runner.is_alive())
    finally:
        runner.join(10)


@pytest.mark.parametrize("native", [True, False], ids=["native", "update"])
def test_a_stop_mid_stream_closes_the_model_stream_and_leaves_the_stopped_mark(worker, slack, model, capsys, native):
    if not native:
        slack.native_refusal = "channel_type_not_supported"
    model.default_plan = Plan(tokens=[f" t{i}" for i in range(300)], delay_s=0.01)  # ~3 s if never stopped
    w = worker(SLACK_UPDATE_INTERVAL_SECONDS="0.05")
    ts = slack.add_message("D1", "tell me a long story")
    # Some text is in Slack: the answer is mid-stream.
    shown = lambda: any(m["text"].strip(" ▍").startswith("t0") for m in slack.bot_messages("D1", ts))  # noqa: E731
    run_then_stop(w, question(w, dm("tell me a long story", ts)), ts, shown)
    seen = model.requests[0]
    # The fake notices the closed connection on its next write (a token every 10 ms).
    wait_for(lambda: seen.hung_up or seen.finished)
    assert seen.hung_up and not seen.finished and seen.tokens_sent < 300  # the provider saw the stop
    [answer] = slack.bot_messages("D1", ts)
    assert answer["text"].endswith(STOPPED_NOTE) and "▍" not in answer["text"]
    assert mark(answer) == {"reply_to": ts, "state": "stopped"}
    assert not answer.get("streaming")
    [done] = records(capsys, "answer")
    assert (done["outcome"], done["mode"]) == ("stopped", "native" if native else "update")
    assert w.services.generations.in_thread("D1", ts) == []  # forgotten once ended


def test_a_stop_while_a_hosted_tool_runs_hangs_up_at_once(worker, slack, model, capsys):
    # Responses API (as tests/e2e/test_tools_both_apis.py runs it): a web search that takes 5 s, no
    # byte meanwhile. The stop must close the HTTP stream now, not after the tool's next event.
    model.default_plan = Plan(tokens=["late"], items=[web_search("q", id="ws_1")], item_delay_s=5.0)
    w = worker(OPENAI_API="responses", WEB_SEARCH="on")
    ts = slack.add_message("D1", "search something")
    # The search's step card is shown: the model stream is now silent.
    shown = lambda: any("ws_1" in (m.get("tasks") or {}) for m in slack.bot_messages("D1", ts))  # noqa: E731
    run_then_stop(w, question(w, dm("search something", ts)), ts, shown)
    seen = model.requests[0]
    wait_for(lambda: seen.hung_up or seen.finished)
    assert seen.hung_up and seen.tokens_sent == 0  # hung up during the tool, before any text
    [answer] = slack.bot_messages("D1", ts)
    assert mark(answer)["state"] == "stopped" and "late" not in answer["text"]
    assert answer["tasks"]["ws_1"]["status"] == "error"  # the step is settled as stopped, not left spinning
    assert [r["outcome"] for r in records(capsys, "answer")] == ["stopped"]


# -- dispatch ---------------------------------------------------------------------------------
def test_an_unknown_job_kind_is_refused_and_logged_not_crashed(worker, slack, model, capsys):
    w = worker()
    w.run(Job(kind="no_such_kind", team="T1", channel="D1", user="U1", message_ts="1700000000.000100"))
    [line] = records(capsys)
    assert (line["severity"], line["message"], line["kind"], line["error"]) == (
        "ERROR",
        "job_failed",
        "no_such_kind",
        "unknown_kind",
    )
    assert slack.calls == [] and model.requests == []


def test_a_shortcut_job_is_dispatched_by_its_kind_to_its_own_handler(worker, slack, model, capsys):
    # The job ingress makes of a "Stop generating" click on someone else's message, run by kind.
    w = worker()
    ts = slack.add_message("C1", "a human message", user="U7")
    job = job_from_interaction(shortcut("stop_generation", slack.messages[ts]), w.registry)
    assert job.kind == "stop_generation"
    w.run(job)
    assert [(e["channel"], e["user"]) for e in slack.ephemerals] == [("C1", "U1")]
    assert "nothing to stop" in slack.ephemerals[0]["text"]
    assert model.requests == [] and not [r for r in records(capsys) if r.get("severity") == "ERROR"]


def test_two_handlers_for_one_kind_are_refused_when_loaded(worker):
    with pytest.raises(ValueError, match="two handlers for job kind 'answer'"):
        worker().registry.add(Handler("answer", lambda ctx, job: None))
