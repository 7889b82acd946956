"""The Slack write budget shared by all answers of an instance (function/teambot/slack/budget.py),
in-process: the budget alone on a fake clock, then SlackReply + SlackOps (the real slack_sdk
WebClient) against the loopback Slack fake with Slack's limits on."""

import threading
import time

import pytest

from teambot.core.jobs import Job
from teambot.core.settings import Settings
from teambot.gcp.secret_store import SecretStore
from teambot.slack.budget import MIN_SHARE, RECOVERY_S, RESERVE, WriteBudget
from teambot.slack.client import SlackOps
from teambot.slack.reply import SlackReply
from tests.fakes.slack_api import FakeSlack

TIERS = {
    "chat.startStream": (20, 60.0),
    "chat.stopStream": (20, 60.0),
    "chat.update": (50, 60.0),
    "chat.appendStream": (100, 60.0),
}


class FakeClock:
    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def budget_on(clock, **kw) -> WriteBudget:
    return WriteBudget(TIERS, {"chat.postMessage": (5, 5.0)}, clock=clock, sleep=clock.sleep, **kw)


# -- the budget alone --------------------------------------------------------------------------
def test_interval_grows_with_live_answers_so_their_sum_stays_under_the_tier(clock):
    budget = budget_on(clock)
    leases = []
    for n in (1, 5, 20):
        while len(leases) < n:
            leases.append(budget.join("T1"))
            leases[-1].uses("chat.appendStream")
        interval = budget.interval("T1", "chat.appendStream", 1.0)
        assert n * 60 / interval <= 100 * 0.9 * (1 - RESERVE) + 1e-9  # writes a minute, all answers
    assert budget.interval("T1", "chat.appendStream", 1.0) == pytest.approx(20 * 60 / (90 * 0.75))
    assert budget.interval("T2", "chat.appendStream", 1.0) == 1.0  # another workspace: its own tier
    assert budget.interval("T1", "chat.update", 1.0) == 1.0  # no answer writes through chat.update
    for lease in leases:
        lease.end()
    assert budget.live("T1", "chat.appendStream") == 0


def test_window_never_exceeds_the_tier_and_finishing_calls_keep_a_reserve(clock):
    budget = budget_on(clock)
    periodic = 0
    while budget.try_take("T1", "chat.update"):
        periodic += 1
    assert periodic == int(50 * 0.9 * (1 - RESERVE)) + 1  # periodic writes stop at 3/4 of 45
    assert budget.ready("T1", "chat.update", periodic=False)  # a final update still has room
    finals = 0
    while budget.try_take("T1", "chat.update", periodic=False):
        finals += 1
    assert periodic + finals == 45 and not budget.ready("T1", "chat.update", periodic=False)
    # A blocking call waits for the oldest call to leave the minute, then calls go out in order.
    waited = [budget.take("T1", "chat.update") for _ in range(3)]
    assert waited[0] == pytest.approx(60.0) and clock.now == pytest.approx(1060.0)
    assert all(w >= 0 for w in waited)


def test_a_429_pauses_the_method_for_every_answer_and_shrinks_the_share(clock):
    budget = budget_on(clock)
    assert budget.try_take("T1", "chat.appendStream")
    budget.rate_limited("T1", "chat.appendStream", 7)
    assert not budget.ready("T1", "chat.appendStream", periodic=False)  # everyone waits
    assert budget.ready("T1", "chat.update")  # other methods are not paused
    assert budget.share("T1", "chat.appendStream") == pytest.approx(0.5)
    budget.rate_limited("T1", "chat.appendStream", 3)  # same congestion: counted once
    assert budget.share("T1", "chat.appendStream") == pytest.approx(0.5)
    started = clock.now
    budget.take("T1", "chat.appendStream")
    assert clock.now - started == pytest.approx(7.0)
    # A smaller share means longer intervals; it grows back without further 429s.
    lease = budget.join("T1")
    lease.uses("chat.appendStream")
    share = budget.share("T1", "chat.appendStream")
    assert 0.5 < share < 0.6  # growing back since the cut, 7 s ago
    assert budget.interval("T1", "chat.appendStream", 0.1) == pytest.approx(60 / (100 * 0.9 * share * 0.75))
    for _ in range(5):
        budget.rate_limited("T1", "chat.appendStream", 1)
        clock.now += 2
    assert budget.share("T1", "chat.appendStream") >= MIN_SHARE
    clock.now += RECOVERY_S
    assert budget.share("T1", "chat.appendStream") == 1.0


def test_waiting_calls_get_slots_in_order_without_a_burst(clock):
    budget = budget_on(clock)
    for _ in range(18):
        assert budget.try_take("T1", "chat.stopStream", periodic=False)
    before = clock.now
    waits = [budget.take("T1", "chat.stopStream") for _ in range(4)]
    assert clock.now - before == pytest.approx(60.0)  # the first slot frees a minute later
    assert sum(waits[1:]) == pytest.approx(0.0)  # the next ones were reserved together


# -- the writer through the budget, real SlackOps, loopback Slack fake ------------------------
@pytest.fixture
def slack():
    fake = FakeSlack().start()  # Slack's limits on (the default)
    yield fake
    fake.stop()


def slack_ops(slack, budget) -> SlackOps:
    settings = Settings(slack_api_url=slack.url + "/api/")
    return SlackOps(settings, SecretStore({"SLACK_BOT_TOKEN": "xoxb-test"}), budget)


def job(i=0, team="T1") -> Job:
    return Job(kind="answer", team=team, channel=f"D{i}", user="U1", message_ts=f"1700000000.{i:06d}")


def test_pending_text_coalesces_into_the_next_write_and_the_final_text_is_exact(slack, clock):
    ops = slack_ops(slack, budget_on(clock))
    reply = SlackReply(ops, job(), interval_s=1.0, clock=clock)
    reply.begin()
    pieces = [f" w{i}" for i in range(50)]
    for piece in pieces[:20]:
        reply.add(piece)  # the clock does not move: only the first whole word is written
    assert slack.count("chat.startStream") == 1 and slack.count("chat.appendStream") == 0
    start = next(c for c in slack.calls if c["method"] == "chat.startStream")
    assert start["text_len"] == len(" w0 w1")  # " w0" alone might be half a word; with " w1" it is whole
    clock.now += 1.0
    for piece in pieces[20:]:
        reply.add(piece)
    appends = [c for c in slack.calls if c["method"] == "chat.appendStream"]
    assert len(appends) == 1 and appends[0]["text_len"] == len("".join(pieces[2:21]))  # all pending, once
    reply.finish()
    reply.release()
    msg = slack.bot_messages("D0", "1700000000.000000")[0]
    assert msg["text"] == "".join(pieces) and not msg["streaming"]
    assert msg["metadata"]["event_payload"]["state"] == "done"


def test_when_stops_are_scarce_the_text_is_appended_at_once_and_the_stop_comes_later(slack, clock):
    budget = budget_on(clock)
    ops = slack_ops(slack, budget)
    reply = SlackReply(ops, job(), interval_s=1.0, clock=clock)
    reply.begin()
    reply.add("Hello world,")
    reply.add(" the rest of it.")
    while budget.try_take("T1", "chat.stopStream", periodic=False):
        pass  # other answers used this minute's stops
    before = clock.now
    reply.finish()
    reply.release()
    methods = [c["method"] for c in slack.calls if c["method"].startswith("chat.")]
    assert methods == ["chat.startStream", "chat.appendStream", "chat.stopStream"]
    assert clock.now - before == pytest.approx(60.0)  # the stop waited for its slot
    msg = slack.bot_messages("D0", "1700000000.000000")[0]
    assert msg["text"] == "Hello world, the rest of it."
    assert msg["metadata"]["event_payload"]["state"] == "done"


def update_mode_reply(slack, clock):
    """A reply in update mode: this minute's native starts are spent by other answers."""
    budget = budget_on(clock)
    while budget.try_take("T1", "chat.startStream", periodic=False):
        pass
    return budget, SlackReply(slack_ops(slack, budget), job(), interval_s=1.0, clock=clock)


def test_when_starts_are_scarce_the_first_text_is_posted_at_once_and_the_final_is_an_update(slack, clock):
    budget, reply = update_mode_reply(slack, clock)
    reply.begin()
    reply.add("one")
    assert slack.count("chat.postMessage") == 0  # "one" may be half a word
    reply.add(" two")
    assert slack.count("chat.postMessage") == 1  # no hold: the first whole word is shown at once
    assert budget.owed("T1", "chat.update") == 1  # its final update is promised before it starts
    reply.add(" three")
    reply.finish()
    reply.release()
    assert reply.mode == "update" and slack.count("chat.startStream") == 0
    assert slack.count("chat.update") == 1 and budget.owed("T1", "chat.update") == 0
    msg = slack.bot_messages("D0", "1700000000.000000")[0]
    assert msg["text"] == "one two three" and msg["metadata"]["event_payload"]["state"] == "done"
    assert not reply._refusals.refused("D0")  # a budget decision, not Slack refusing streams


def test_a_paused_chat_update_never_holds_the_final_text_the_rest_is_posted(slack, clock):
    """Issue 21: a 429's Retry-After (shared by every answer, up to a minute) must not keep people
    reading half an answer. The final write posts what was not shown yet, marked done, at once;
    the partial message is closed ("continued", cursor gone) when the pause is over."""
    budget, reply = update_mode_reply(slack, clock)
    reply.begin()
    reply.add("First part,")
    reply.add(" shown ")
    assert slack.count("chat.postMessage") == 1  # update mode: the first words are a post
    reply.add("and the rest, never shown before the finish.")
    budget.rate_limited("T1", "chat.update", 30)  # another answer hit the wall
    posts_before, before = slack.count("chat.postMessage"), clock.now
    reply.finish()
    reply.release()
    msgs = slack.bot_messages("D0", "1700000000.000000")
    assert slack.count("chat.postMessage") == posts_before + 1
    writes = [c["method"] for c in slack.calls if c["method"] in ("chat.postMessage", "chat.update")]
    assert writes[-2:] == ["chat.postMessage", "chat.update"]  # the rest first, the partial's close after
    assert [m["metadata"]["event_payload"]["state"] for m in msgs] == ["continued", "done"]
    assert "".join(m["text"] for m in msgs) == "First part, shown and the rest, never shown before the finish."
    assert clock.now - before == pytest.approx(30.0)  # only the partial's close waited out the pause
    assert budget.owed("T1", "chat.update") == 0


def test_a_short_pause_is_waited_out_by_the_final_update(slack, clock):
    budget, reply = update_mode_reply(slack, clock)
    reply.add("one two ")
    reply.add("three")
    budget.rate_limited("T1", "chat.update", 0.5)
    reply.finish()
    reply.release()
    msgs = slack.bot_messages("D0", "1700000000.000000")
    assert len(msgs) == 1 and msgs[0]["text"] == "one two three"
    assert msgs[0]["metadata"]["event_payload"]["state"] == "done"


def test_when_updates_are_spent_too_the_text_is_posted_as_it_completes_never_twice(slack, clock):
    budget = budget_on(clock)
    while budget.try_take("T1", "chat.startStream", periodic=False):
        pass
    while budget.admit("T1", "chat.update"):
        pass  # other answers hold every final update of this minute
    short = SlackReply(slack_ops(slack, budget), job(), interval_s=1.0, clock=clock)
    for word in ("one", " two", " three"):
        short.add(word)
    short.finish()
    short.release()
    assert short.mode == "post" and slack.count("chat.update") == 0
    assert slack.count("chat.postMessage") == 1  # a short answer: one post, done
    msg = slack.bot_messages("D0", "1700000000.000000")[0]
    assert msg["text"] == "one two three" and msg["metadata"]["event_payload"]["state"] == "done"
    # A long one: successive posts, each a complete part (cut at a line), the last one "done".
    longer = SlackReply(slack_ops(slack, budget), job(1), interval_s=1.0, clock=clock)
    text = "".join(f"line {i} of the answer\n" for i in range(12))
    for i, piece in enumerate(text.split(" ")):
        longer.add(piece if i == 0 else " " + piece)
        clock.now += 0.25
    posted_while_writing = len(slack.bot_messages("D1", "1700000000.000001"))
    longer.finish()
    longer.release()
    msgs = slack.bot_messages("D1", "1700000000.000001")
    assert len(msgs) >= 3 and slack.count("chat.update") == 0
    assert "".join(m["text"] for m in msgs) == text  # nothing lost, nothing twice
    assert [m["metadata"]["event_payload"]["state"] for m in msgs] == ["continued"] * (len(msgs) - 1) + ["done"]
    assert all(m["text"][-1] in " \n" for m in msgs[:-1])  # parts end at a line or a word, never inside one
    assert posted_while_writing == len(msgs) - 1  # the parts went out while the answer was written


def test_a_429_seen_by_one_answer_pauses_the_method_for_the_others(slack):
    """Real clock: Slack's limit on chat.appendStream is reached (as if another instance used
    it); the first answer that gets the 429 pauses the method, the other waits without calling."""
    budget = WriteBudget()
    ops = slack_ops(slack, budget)
    slack.limits["chat.appendStream"] = (2, 60.0)
    replies = [SlackReply(ops, job(i), interval_s=0.0) for i in range(2)]
    for reply in replies:
        reply.begin()
        reply.add("start ")
    slack.calls.clear()
    ops.call("chat_appendStream", team="T1", channel="D0", ts=replies[0].message_ts[0], markdown_text=" a")
    ops.call("chat_appendStream", team="T1", channel="D1", ts=replies[1].message_ts[0], markdown_text=" b")
    # The window is full now (Retry-After ~60 s): a 429 pauses appendStream for the whole instance.
    slack.limits["chat.appendStream"] = (2, 1.0)
    results = []

    def write(i):
        ops.call("chat_appendStream", team="T1", channel=f"D{i}", ts=replies[i].message_ts[0], markdown_text=f" {i}")
        results.append(i)

    first = threading.Thread(target=write, args=(0,))
    first.start()
    deadline = time.monotonic() + 5
    while budget.paused_for("T1", "chat.appendStream") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert budget.paused_for("T1", "chat.appendStream") > 0
    second = threading.Thread(target=write, args=(1,))
    second.start()
    first.join(10)
    second.join(10)
    assert sorted(results) == [0, 1]
    assert slack.rate_limited["chat.appendStream"] == 1  # the second answer never hit Slack's wall
    for reply in replies:
        reply.finish()
        reply.release()


def test_a_smaller_share_slows_what_can_wait_but_never_the_end_of_an_answer(clock):
    budget = budget_on(clock)
    budget.rate_limited("T1", "chat.stopStream", 1)  # another instance is using the tier
    clock.now += 1
    optional = 0
    while budget.try_take("T1", "chat.stopStream", periodic=False):
        optional += 1
    assert optional <= 10  # native starts / optional calls: about half of the 18 now
    before = clock.now
    for _ in range(18 - optional):
        budget.take("T1", "chat.stopStream")  # stops: the tier and the pause only
    assert clock.now == before


def test_a_cold_instance_plans_with_the_most_instances_until_its_peers_have_said_so(clock):
    """Ten instances that start in one burst each see "1 writer" before any has said it writes:
    a cold instance must not spend a whole workspace budget, so it assumes cold_writers peers
    for PEER_EVERY_S, then trusts the shared peer count."""
    from teambot.slack.pause import PEER_EVERY_S, MemoryPauseStore, SlackPause

    board = SlackPause(MemoryPauseStore(), wall=clock, background=False, cold_writers=10)
    budget = budget_on(clock)
    budget.board = board
    assert board.writers("T1") == 10
    starts = 0
    while starts < 30 and budget.admit("T1", "chat.startStream"):
        starts += 1
    assert starts < 20 * 0.5, starts  # a tenth-ish of the tier, not the whole of it
    clock.now += 2 * PEER_EVERY_S + 0.1
    assert board.writers("T1") == 1  # warm: only this instance said it writes here
    more = 0
    while more < 30 and budget.admit("T1", "chat.startStream"):
        more += 1
    assert more > 0
    # the default (one process, the memory store) is never cold-limited
    assert SlackPause(MemoryPauseStore(), wall=clock, background=False).writers("T1") == 1
