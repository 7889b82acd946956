"""The AI app surface stage by stage, in-process: parsing the assistant events and feedback
clicks, the thread helpers, the feedback blocks, and SlackReply's final write over the real
SlackOps against the loopback Slack fake."""

import pytest

from teambot.ack.payloads import job_from_event, job_from_interaction
from teambot.core.errors import BadRequest
from teambot.core.jobs import Job
from teambot.core.settings import Settings
from teambot.gcp.secret_store import SecretStore
from teambot.handlers import load_handlers
from teambot.slack.ai_panel import StatusMemory, is_app_thread, is_first_question, thread_context
from teambot.slack.blocks import FEEDBACK_ACTION, feedback_block, parse_feedback, with_blocks
from teambot.slack.client import SlackOps
from teambot.slack.marks import CONTEXT_EVENT, DONE, STOPPED, answer_metadata, context_metadata, is_notice
from teambot.slack.reply import SlackReply
from tests.harness import assistant_thread_event, feedback_click


def test_assistant_events_become_jobs_for_their_handlers():
    registry = load_handlers()
    started = job_from_event(assistant_thread_event("assistant_thread_started", "1.000100", context_channel="C7"), registry)
    assert (started.kind, started.channel, started.user, started.thread_ts) == (
        "assistant_thread_started",
        "D1",
        "U1",
        "1.000100",
    )
    assert started.extra == {"context": {"channel_id": "C7", "team_id": "T1"}} and Job.from_json(started.to_json()) == started
    a = job_from_event(assistant_thread_event("assistant_thread_context_changed", "1.000100", event_ts="5.1"), registry)
    b = job_from_event(assistant_thread_event("assistant_thread_context_changed", "1.000100", event_ts="5.2"), registry)
    assert a.kind == "assistant_thread_context_changed" and a.dedup_key() != b.dedup_key()
    broken = assistant_thread_event("assistant_thread_started", "1.000100")
    broken["event"]["assistant_thread"]["thread_ts"] = "yesterday"
    with pytest.raises(BadRequest):
        job_from_event(broken, registry)


def test_a_feedback_click_becomes_a_job_and_its_value_names_rating_and_model():
    message = {
        "ts": "2.000100",
        "channel": "D1",
        "thread_ts": "1.000100",
        "text": "x",
        "blocks": [{"type": "markdown", "text": "x"}, feedback_block("gpt-x")],
    }
    job = job_from_interaction(feedback_click(message, "bad", user="U2", action_ts="9.1"), load_handlers())
    assert (job.kind, job.channel, job.user, job.message_ts, job.thread_ts) == (
        FEEDBACK_ACTION,
        "D1",
        "U2",
        "2.000100",
        "1.000100",
    )
    assert parse_feedback(job.extra["value"]) == ("bad", "gpt-x")
    for junk in ("", "good", '{"rating": "meh"}', "[1]"):
        assert parse_feedback(junk) is None


def test_blocks_replace_markdown_text_only_when_there_are_blocks():
    assert with_blocks("hi", []) == {"markdown_text": "hi"}
    body = with_blocks("**hi**", [feedback_block("m")])
    assert body["text"] == "**hi**" and body["blocks"][0] == {"type": "markdown", "text": "**hi**"}
    assert "markdown_text" not in body


def test_ai_panel_helpers():
    root = {"ts": "1.000100", "subtype": "assistant_app_thread", "user": "U1"}
    greeting = {"ts": "1.000200", "user": "UBOT", "text": "Hi", "metadata": context_metadata({"channel_id": "C7", "x": 1})}
    q1 = {"ts": "1.000300", "user": "U1", "text": "first"}
    a1 = {"ts": "1.000400", "user": "UBOT", "text": "answer", "metadata": answer_metadata("1.000300", DONE)}
    q2 = {"ts": "1.000500", "user": "U1", "text": "second"}
    job = lambda ts: Job(kind="answer", team="T1", channel="D1", user="U1", message_ts=ts, thread_ts="1.000100")  # noqa: E731
    assert is_app_thread([root]) and is_app_thread([greeting]) and not is_app_thread([q1, a1])
    assert thread_context([root, greeting, q1], "UBOT", "B") == {"channel_id": "C7"}
    assert is_first_question([root, greeting, q1], job("1.000300"), "UBOT", "B")
    assert not is_first_question([root, greeting, q1, a1, q2], job("1.000500"), "UBOT", "B")
    assert is_notice(greeting) and greeting["metadata"]["event_type"] == CONTEXT_EVENT


def test_status_refusals_are_logged_once_and_workspace_ones_stop_asking(capsys):
    memory = StatusMemory()
    memory.refused("access_denied", "C1")
    memory.refused("access_denied", "C2")
    assert not memory.off and capsys.readouterr().out.count("status_refused") == 1
    memory.refused("missing_scope", "C1")
    assert memory.off


@pytest.fixture
def ops(slack):
    settings = Settings(slack_api_url=slack.url + "/api/")
    return SlackOps(settings, SecretStore({"SLACK_BOT_TOKEN": "xoxb-test"}))


@pytest.mark.parametrize("native", [True, False])
def test_the_final_write_carries_the_feedback_block_and_the_text(slack, ops, native):
    ts = slack.add_message("D1", "q")
    job = Job(kind="answer", team="T1", channel="D1", user="U1", message_ts=ts)
    reply = SlackReply(ops, job, interval_s=0, native=native, final_blocks=[feedback_block("m")])
    reply.begin()
    for token in ["Hello", " **world**", "."]:
        reply.add(token)
    reply.finish()
    [message] = slack.bot_messages("D1", ts)
    assert message["text"] == "Hello **world**." and message["metadata"]["event_payload"]["state"] == DONE
    assert message["blocks"][-1] == feedback_block("m")
    if not native:
        assert message["blocks"][0] == {"type": "markdown", "text": "Hello **world**."}
    # Only the last write carries blocks; streaming writes stay markdown_text.
    assert [c["method"] for c in slack.calls].count("chat.stopStream" if native else "chat.update") >= 1


def test_a_stopped_answer_has_no_feedback_buttons(slack, ops):
    ts = slack.add_message("D1", "q")
    job = Job(kind="answer", team="T1", channel="D1", user="U1", message_ts=ts)
    reply = SlackReply(ops, job, interval_s=0, native=False, final_blocks=[feedback_block("m")])
    reply.begin()
    reply.add("partial")
    reply.finish("\n\n_⏹ Stopped._", STOPPED)
    [message] = slack.bot_messages("D1", ts)
    assert "blocks" not in message and message["text"].endswith("Stopped._")


def test_a_status_line_never_waits_for_the_rate_budget(slack, ops):
    """After a 429 on assistant.threads.setStatus (Retry-After 57 s, seen with two processes in one
    workspace), the next answer skips its status line at once instead of holding its thread."""
    from teambot.answer.services import Context, Services
    from teambot.slack.ai_panel import set_thinking
    from teambot.slack.budget import WriteBudget

    waited = []

    def sleep(seconds):  # the budget's wait: recorded, and cut short (the call would then go on)
        waited.append(seconds)
        raise RuntimeError("waited for the budget")

    settings = Settings(slack_api_url=slack.url + "/api/")
    ops = SlackOps(settings, ops._secrets, WriteBudget(sleep=sleep))
    ctx = Context(Services(settings=settings, secrets=ops._secrets, slack=ops))
    job = Job("answer", "T1", "D1", "U1", slack.add_message("D1", "hi"))
    ops.budget.rate_limited("T1", "assistant.threads.setStatus", 57.0)
    set_thinking(ctx, job)
    assert waited == []  # skipped at once, whatever the clock says
    assert slack.count("assistant.threads.setStatus") == 0
