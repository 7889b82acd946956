"""Agent surface pieces in-process: session titles, the thinking steps of a question, and the
Slack fake's agents.sessions.* rules (each following its cited page)."""

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from teambot.answer.files import FileContext
from teambot.answer.reading_steps import THREAD_STEP, answer_steps
from teambot.core.jobs import Job
from teambot.core.steps import COMPLETE, ERROR
from teambot.slack.agent_session import TITLE_LIMIT, better_title, session_title


def test_titles_are_one_line_within_slacks_limit_and_headings_are_better_titles():
    assert session_title("a\n  b\tc") == "a b c"
    long = session_title("x" * 500)
    assert len(long) == TITLE_LIMIT and long.endswith("…")
    assert better_title("# Release checklist\n\ntext") == "Release checklist"
    assert better_title("\n**Plan for Monday**\nmore") == "Plan for Monday"
    assert better_title("Just an answer. # not a heading") == ""


def test_steps_name_the_thread_and_each_shared_file():
    job = Job(kind="answer", team="T1", channel="D1", user="U1", message_ts="3.0", thread_ts="1.0")
    replies = [
        {"ts": "1.0", "user": "U1", "text": "root", "files": [{"id": "F1", "name": "report.pdf"}]},
        {"ts": "2.0", "user": "U2", "text": "see", "files": [{"id": "F2", "name": "huge.zip"}]},
        {"ts": "3.0", "user": "U1", "text": "question"},
    ]
    files = FileContext(notes=["Skipped `huge.zip`: unsupported file type."])
    steps = answer_steps(replies, files, job, ("UBOT", "BBOT"))
    assert [(s.title, s.status) for s in steps] == [
        (THREAD_STEP, COMPLETE),
        ("Reading huge.zip", ERROR),
        ("Reading report.pdf", COMPLETE),
    ]
    assert steps[1].output.startswith("Skipped") and len({s.id for s in steps}) == 3
    assert answer_steps([{"ts": "3.0", "user": "U1"}], FileContext(), job, ("UBOT", "BBOT")) == []


def test_the_fakes_session_rules(slack):
    client = WebClient(token="xoxb-test", base_url=slack.url + "/api/")
    root = slack.add_message("D1", "hi")
    client.agents_sessions_setStatus(channel_id="D1", thread_ts=root, status="processing", title="First")
    client.agents_sessions_setStatus(channel_id="D1", thread_ts=root, status="active", title="Ignored")
    assert slack.sessions[("D1", root)]["title"] == "First"  # title only on creation
    for bad in ({"status": "thinking"}, {"status": "active", "title": "x" * 201}):
        try:
            client.agents_sessions_setStatus(channel_id="D1", thread_ts=root, **bad)
        except SlackApiError as exc:
            assert exc.response["error"] == "invalid_arguments"
        else:
            raise AssertionError(f"accepted {bad}")
    try:
        client.agents_sessions_rename(channel_id="D1", thread_ts=slack.add_message("D1", "other"), title="x")
    except SlackApiError as exc:
        assert exc.response["error"] == "session_not_found"
    else:
        raise AssertionError("renamed a session that does not exist")
    slack.stop_event_subscribed = False
    answer = client.agents_sessions_setStatus(channel_id="D1", thread_ts=root, status="processing")
    assert answer["warning"] == "missing_agent_session_stopped_event_subscription"
