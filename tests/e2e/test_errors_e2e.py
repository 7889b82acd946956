"""Errors that can be seen (issue 18): an unexpected failure is logged once, with its stack trace,
as a JSON line Cloud Error Reporting picks up (severity ERROR, `stack_trace`, the
ReportedErrorEvent `@type`: cloud.google.com/error-reporting/docs/formatting-error-messages), and
the user reads one honest sentence with the reference that is in that line."""

from __future__ import annotations

import json

import pytest

from tests.fakes.openai_api import BrokenFrameOpenAI
from tests.harness import dm, wait_for

REPORTED_ERROR_EVENT = "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"


@pytest.mark.parametrize(
    "frame", [b"data: {this is not json\n\n", b'data: {"choices": "not a list"}\n\n'], ids=["not_json", "wrong_shape"]
)
def test_unreadable_model_frame_is_an_honest_error_with_a_reference(start_bot, slack, frame):
    broken = BrokenFrameOpenAI()
    broken.frame = frame
    broken.start()
    try:
        bot = start_bot(OPENAI_BASE_URL=broken.url + "/v1")
        ts = slack.add_message("D1", "Tell me something")
        assert bot.post_json(dm("Tell me something", ts)).status == 200
        record = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "model_stream_unreadable"], 15)
        assert len(record) == 1
        error = record[0]
        assert error["severity"] == "ERROR" and error["@type"] == REPORTED_ERROR_EVENT
        assert error["stack_trace"].startswith("Traceback (most recent call last):\n")
        assert "answer/model.py" in error["stack_trace"]
        reference = error["error_id"]
        answer = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "answer"], 15)[0]
        assert answer["outcome"] == "stream_unreadable"

        def shown():
            texts = [m.get("text", "") for m in slack.bot_messages("D1", ts)]
            return [t for t in texts if reference in t]

        text = wait_for(shown, 10)[0]
        assert "connection" not in text.lower()
        assert "Tell me something" not in bot.logs()
        # logged once: no second ERROR line for the same failure
        assert [r.get("message") for r in bot.log_records() if r.get("severity") == "ERROR"] == ["model_stream_unreadable"]
    finally:
        broken.stop()


def test_a_cut_connection_is_still_a_connection_error(bot, slack, model):
    from tests.fakes.openai_api import Plan

    model.default_plan = Plan(tokens=["a", "b", "c"], fail="cut", fail_after=1)
    ts = slack.add_message("D1", "Hi")
    assert bot.post_json(dm("Hi", ts)).status == 200
    answer = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "answer"], 15)[0]
    assert answer["outcome"] in ("stream_cut", "connection")
    assert not [r for r in bot.log_records() if r.get("severity") == "ERROR"]


def test_logs_exception_is_one_error_reporting_line_and_outages_stay_one_warning(capsys):
    from teambot.core import logs

    data = "words-of-a-user"
    try:
        {}[data]
    except KeyError as exc:
        error_id = logs.failed("bug_here", exc, channel="C1")
    try:
        raise TimeoutError("read timed out")
    except TimeoutError as exc:
        assert logs.failed("slow_there", exc) is None
    bug, outage = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert bug["severity"] == "ERROR" and bug["@type"] == REPORTED_ERROR_EVENT and bug["error_id"] == error_id
    assert bug["stack_trace"].startswith("Traceback (most recent call last):\n") and bug["stack_trace"].rstrip().endswith(
        "KeyError"
    )
    assert "words-of-a-user" not in bug["stack_trace"]  # a KeyError's text may be data: only its type is kept
    assert outage == {**outage, "severity": "WARNING", "message": "slow_there", "error": "TimeoutError"}
    assert "stack_trace" not in outage


from tests.e2e.test_cloud_tasks_e2e import QUEUE, oidc, start_tasks_bot, tasks  # noqa: E402, F401  (fixtures)


def test_a_failed_enqueue_names_its_cause(start_tasks_bot, tasks, slack):  # noqa: F811
    bot = start_tasks_bot()
    tasks.down = True  # Cloud Tasks answers 503 UNAVAILABLE (google.rpc.Code, cloud.google.com/tasks/docs/reference/rest)
    ts = slack.add_message("D1", "hello")
    assert bot.post_json(dm("hello", ts)).status == 503
    failed = [r for r in bot.log_records() if r.get("message") == "enqueue_failed"]
    assert len(failed) == 1
    assert failed[0]["status"] == 503 and failed[0]["error"] == "UNAVAILABLE" and failed[0]["queue"] == QUEUE


def test_a_crashed_job_tells_the_asker_with_the_reference(capsys):
    from teambot.answer.worker import Worker
    from teambot.core.jobs import Job
    from teambot.core.settings import Settings
    from teambot.gcp.secret_store import SecretStore

    class Crashing:
        def run(self, ctx, job):
            return None.missing  # a bug

    class Recording:
        calls: list = []

        def call(self, method, **kwargs):
            self.calls.append((method, kwargs))

    worker = Worker(Settings(), SecretStore({}))
    worker.registry = {"answer": Crashing(), "assistant_thread_started": Crashing()}
    worker.services.slack = Recording()
    worker.run(Job(kind="answer", team="T1", channel="C1", user="U1", message_ts="1.2"))
    worker.run(Job(kind="assistant_thread_started", team="T1", channel="D1", user="U1", message_ts="1.3"))
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    errors = [r for r in records if r["message"] == "job_failed"]
    assert len(errors) == 2 and all(r["stack_trace"].startswith("Traceback") for r in errors)
    assert [(m, k["channel"], k["user"], k["thread_ts"]) for m, k in Recording.calls] == [
        ("chat_postEphemeral", "C1", "U1", "1.2")
    ]
    assert errors[0]["error_id"] in Recording.calls[0][1]["text"]
