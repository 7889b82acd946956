"""Thinking steps and the agent session status as the writer renders them (slack_reply.py), and
the per-workspace pause shared by instances (slack_pause.py).

SlackReply through the real SlackOps (slack_sdk WebClient) against the loopback Slack fake, which
validates stream chunks per docs.slack.dev chat.startStream / chat.appendStream (tests/fakes/
slack_api.py: chunk_error). The shared pause on a memory store and on the real Firestore emulator."""

import time
import uuid

import pytest

from teambot.core.jobs import Job
from teambot.core.settings import Settings
from teambot.core.steps import COMPLETE, IN_PROGRESS, Source, Step
from teambot.gcp.secret_store import SecretStore
from teambot.slack.budget import TIERS, WriteBudget
from teambot.slack.client import SlackOps
from teambot.slack.pause import PEER_EVERY_S, FirestorePauseStore, MemoryPauseStore, SlackPause
from teambot.slack.reply import SlackReply
from tests.fakes.slack_api import FakeSlack, chunk_error


@pytest.fixture
def slack():
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def roomy_ops(slack) -> SlackOps:
    budget = WriteBudget(tiers={method: (count * 100, window) for method, (count, window) in TIERS.items()})
    return SlackOps(Settings(slack_api_url=slack.url + "/api/"), SecretStore({"SLACK_BOT_TOKEN": "xoxb-test"}), budget)


def reply_for(slack, ops, channel="D1", **kwargs):
    ts = slack.add_message(channel, "what changed?")
    job = Job(kind="answer", team="T1", channel=channel, user="U1", message_ts=ts)
    return ts, SlackReply(ops, job, interval_s=0.0, **kwargs)


READ = Step("thread", "Reading the thread")
SEARCH = Step("web", "Searching the web", details="release notes 3.2")
SEARCHED = Step(
    "web",
    "Searching the web",
    status=COMPLETE,
    details="release notes 3.2",
    output="2 results",
    sources=(Source("https://example.com/notes", "Release notes"), Source("https://example.com/b")),
)


def paced(*actions, pause_s=0.05):
    """Each action a little after the previous one (steps written within one write interval
    coalesce into one write, by design)."""
    for action in actions:
        action()
        time.sleep(pause_s)


def test_native_steps_are_task_cards_before_and_while_the_text_streams(slack):
    ts, reply = reply_for(slack, roomy_ops(slack))
    reply.begin()
    paced(
        lambda: reply.step(READ),
        lambda: reply.step(Step("thread", "Reading the thread", status=COMPLETE)),
        lambda: reply.step(SEARCH),
        lambda: reply.add("Two things "),
        lambda: reply.add("changed."),
        lambda: reply.step(SEARCHED),
        lambda: reply.add(" Both are in the notes."),
    )
    reply.finish(session_status="active")
    reply.release()
    [msg] = slack.bot_messages("D1", ts)
    assert msg["text"] == "Two things changed. Both are in the notes."  # the cards are not text
    assert msg["task_display_mode"] == "timeline"
    assert list(msg["tasks"]) == ["thread", "web"]  # one card per id, in the order they started
    assert msg["tasks"]["thread"]["status"] == COMPLETE
    web = msg["tasks"]["web"]
    assert web["status"] == COMPLETE and web["output"] == "2 results" and web["details"] == "release notes 3.2"
    assert web["sources"] == [
        {"type": "url", "url": "https://example.com/notes", "text": "Release notes"},
        {"type": "url", "url": "https://example.com/b", "text": "https://example.com/b"},
    ]
    assert ("web", IN_PROGRESS) in msg["task_log"]  # the card was shown running, then complete
    # The agent session's status travelled with the stop: the caller needs no setStatus.
    assert msg["session_status"] == "active" and reply.session_status_sent
    assert msg["metadata"]["event_payload"]["state"] == "done"


def test_update_mode_shows_steps_as_a_context_line_the_final_text_replaces(slack):
    slack.native_refusal = "channel_type_not_supported"
    ts, reply = reply_for(slack, roomy_ops(slack))
    reply.begin()
    reply.step(READ)
    [msg] = slack.bot_messages("D1", ts)
    assert msg["text"].startswith("_… Reading the thread_")  # shown at once, before any text
    paced(lambda: reply.step(SEARCH), lambda: reply.add("Two things changed. "))
    line = slack.bot_messages("D1", ts)[0]["text"]
    assert "… Searching the web: release notes 3.2" in line and "Two things changed." in line
    reply.step(SEARCHED)
    reply.add("Both are in the notes.")
    reply.finish(session_status="active")
    reply.release()
    [msg] = slack.bot_messages("D1", ts)
    assert reply.mode == "update"
    assert msg["text"] == "Two things changed. Both are in the notes."  # the context line is gone
    assert not reply.session_status_sent and "session_status" not in msg  # the caller sets it


def test_a_session_status_is_not_sent_on_a_message_that_continues(slack):
    ts, reply = reply_for(slack, roomy_ops(slack), limit=30)
    reply.add("word " * 20)
    reply.finish(session_status="closed")
    reply.release()
    msgs = slack.bot_messages("D1", ts)
    assert len(msgs) >= 3 and "".join(m["text"] for m in msgs) == "word " * 20
    assert [m.get("session_status") for m in msgs] == [None] * (len(msgs) - 1) + ["closed"]


def test_the_fake_refuses_chunks_slack_documents_as_invalid():
    assert chunk_error([{"type": "markdown_text", "text": "hi"}, {"type": "plan_update", "title": "Plan"}]) is None
    assert chunk_error([{"type": "task_update", "id": "a", "title": "A", "status": "done"}]) == "invalid_chunks"
    assert (
        chunk_error(
            [
                {
                    "type": "task_update",
                    "id": "a",
                    "title": "A",
                    "status": "complete",
                    "sources": [{"type": "url", "url": "https://x"}],
                }
            ]
        )
        == "invalid_chunks"
    )  # no text
    assert chunk_error([{"type": "image"}]) == "invalid_chunks"


# -- the pause shared by instances ---------------------------------------------------------------
class Wall:
    def __init__(self):
        self.now = 5_000.0

    def __call__(self):
        return self.now


def two_instances(store, wall):
    budgets = []
    for _ in range(2):
        budget = WriteBudget(clock=wall, sleep=lambda s: setattr(wall, "now", wall.now + s))
        budget.board = SlackPause(store, wall=wall, refresh_s=0.0, background=False)
        budgets.append(budget)
    return budgets


def check_a_429_on_one_instance_pauses_the_other(store, wall):
    first, second = two_instances(store, wall)
    assert second.ready("T1", "chat.update")
    first.rate_limited("T1", "chat.update", 20)
    assert not second.ready("T1", "chat.update", periodic=False)  # the other instance waits too
    assert second.paused_for("T1", "chat.update") == pytest.approx(20, abs=0.5)
    assert second.share("T1", "chat.update") == pytest.approx(0.5)  # and learns the tier is shared
    assert second.ready("T1", "chat.stopStream")  # per method
    assert second.ready("T2", "chat.update")  # per workspace
    before = wall.now
    second.take("T1", "chat.update")  # a final write waits for the shared pause, no 429 needed
    assert wall.now - before == pytest.approx(20, abs=0.5)
    assert second.ready("T1", "chat.update", periodic=False)


def test_a_429_on_one_instance_pauses_the_other_memory_store():
    check_a_429_on_one_instance_pauses_the_other(MemoryPauseStore(), Wall())


def test_a_429_on_one_instance_pauses_the_other_on_firestore(firestore_emulator, monkeypatch):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator)
    store = FirestorePauseStore(project=f"pause-{uuid.uuid4().hex[:12]}", timeout_s=10.0)
    wall = Wall()
    wall.now = time.time()
    check_a_429_on_one_instance_pauses_the_other(store, wall)
    assert store.read("T1", "chat.update") > wall.now - 20  # the document the instances share


def test_a_failing_pause_store_never_fails_a_write():
    class Broken:
        def read(self, team, method):
            raise OSError("down")

        def write(self, team, method, until):
            raise OSError("down")

    wall = Wall()
    budget = WriteBudget(clock=wall)
    budget.board = SlackPause(Broken(), wall=wall, refresh_s=0.0, background=False)
    assert budget.ready("T1", "chat.update")
    budget.rate_limited("T1", "chat.update", 5)
    assert budget.paused_for("T1", "chat.update") == pytest.approx(5)  # its own 429 still counts


def test_instances_writing_to_one_workspace_split_its_tiers():
    wall, store = Wall(), MemoryPauseStore()
    first, second = two_instances(store, wall)
    alone = WriteBudget(clock=wall)
    alone.board = SlackPause(MemoryPauseStore(), wall=wall, refresh_s=0.0, background=False)

    def starts(budget):
        count = 0
        while count < 100 and budget.try_take("T1", "chat.startStream", periodic=False):
            count += 1
        return count

    assert starts(alone) == 18  # 90% of Tier 2's 20 a minute
    second.ready("T1", "chat.update")  # the second instance writes to T1 too
    assert first.board.writers("T1") == 2
    wall.now += PEER_EVERY_S  # the second has counted again by now
    assert second.board.writers("T1") == 2
    assert starts(first) + starts(second) <= 18  # two instances plan with one workspace's tier
    wall.now += 60 + 20  # the other instance stopped writing: the whole tier again
    assert starts(first) == 18
