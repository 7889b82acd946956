"""Stop and delete shortcuts, Slack faults (429 storms, refusals) and model failures, end to end."""

import time

import pytest

from tests.e2e.test_answer_e2e import finished
from tests.fakes.openai_api import Plan, words
from tests.harness import dm, settle, shortcut, wait_for

SLOW = Plan(tokens=[f" t{i}" for i in range(300)], delay_s=0.02)  # ~6 s if never stopped


def first_bot_message(slack, channel, ts):
    return wait_for(
        lambda: next((m for m in slack.bot_messages(channel, ts) if m["text"].strip(" ▍") and "Thinking" not in m["text"]), None)
    )


@pytest.mark.parametrize("native", [True, False], ids=["native", "update"])
def test_stop_mid_stream_closes_the_model_stream_and_marks_the_answer(bot, slack, model, native):
    if not native:
        slack.native_refusal = "channel_type_not_supported"
    model.default_plan = SLOW
    ts = slack.add_message("D1", "tell me a long story")
    bot.post_json(dm("tell me a long story", ts))
    message = first_bot_message(slack, "D1", ts)
    pressed = time.monotonic()
    assert bot.post_form(shortcut("stop_generation", dict(message))).status == 200
    wait_for(lambda: model.requests[0].hung_up or model.requests[0].finished, timeout=5)
    assert model.requests[0].hung_up and not model.requests[0].finished
    assert model.requests[0].tokens_sent < 300
    assert model.requests[0].ended_at - pressed < 2.0
    final = wait_for(finished(slack, "D1", ts))
    assert final[-1]["text"].rstrip().endswith("_⏹ Stopped._")
    assert final[-1]["metadata"]["event_payload"]["state"] == "stopped"
    assert "▍" not in final[-1]["text"]
    assert wait_for(lambda: [e for e in slack.ephemerals if e["text"] == "Stopped."])
    record = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "answer"])[0]
    assert record["outcome"] == "stopped"


def test_stop_on_a_finished_answer_says_so(bot, slack, model):
    ts = slack.add_message("D1", "hi")
    bot.post_json(dm("hi", ts))
    # Sent the moment the fake sees the last write, while the worker may still be wrapping up:
    # the answer is complete from its model's end on (generations.py), not from the worker's.
    done = wait_for(finished(slack, "D1", ts))[0]
    bot.post_form(shortcut("stop_generation", dict(done)))
    assert wait_for(lambda: [e for e in slack.ephemerals if "already complete" in e["text"]])
    assert slack.messages[done["ts"]]["text"] == model.default_plan.text


def test_stop_on_someone_elses_message_is_refused(bot, slack, model):
    ts = slack.add_message("C1", "a human message", user="U7")
    bot.post_form(shortcut("stop_generation", dict(slack.messages[ts])))
    assert wait_for(lambda: [e for e in slack.ephemerals if "nothing to stop" in e["text"]])
    assert model.requests == []


def test_delete_removes_the_bots_message_and_confirms(bot, slack, model):
    ts = slack.add_message("D1", "hi")
    bot.post_json(dm("hi", ts))
    answer = wait_for(finished(slack, "D1", ts))[0]
    assert bot.post_form(shortcut("delete_message", dict(answer))).status == 200
    wait_for(lambda: slack.messages[answer["ts"]].get("deleted"))
    assert wait_for(lambda: [e for e in slack.ephemerals if e["text"] == "Deleted." and e["user"] == "U1"])


def test_delete_refuses_other_peoples_messages(bot, slack):
    ts = slack.add_message("C1", "mine, not the bot's", user="U2")
    bot.post_form(shortcut("delete_message", dict(slack.messages[ts]), user="U2"))
    assert wait_for(lambda: [e for e in slack.ephemerals if "only delete my own" in e["text"]])
    assert not slack.messages[ts].get("deleted")
    assert slack.count("chat.delete") == 0


@pytest.mark.parametrize("native", [True, False], ids=["appendStream", "chat.update"])
def test_429_storm_still_completes_the_answer(start_bot, slack, model, native):
    bot = start_bot(SLACK_UPDATE_INTERVAL_SECONDS="0.3")
    if not native:
        slack.native_refusal = "channel_type_not_supported"
    methods = ["chat.startStream", "chat.appendStream", "chat.stopStream", "chat.postMessage", "chat.update"]
    slack.rate_limit = {m: 0.3 for m in methods}
    model.default_plan = Plan(tokens=words("one two three four five six seven eight nine ten " * 6), delay_s=0.03)
    ts = slack.add_message("D1", "count")
    bot.post_json(dm("count", ts))
    msgs = wait_for(finished(slack, "D1", ts), timeout=40)
    assert "".join(m["text"] for m in msgs) == model.default_plan.text
    assert sum(1 for c in slack.calls if c["status"] == 429) >= 1


def test_native_stream_refused_at_start_falls_back_to_updates(bot, slack, model):
    slack.native_refusal = "feature_not_enabled"
    ts = slack.add_message("D1", "hi")
    bot.post_json(dm("hi", ts))
    msgs = wait_for(finished(slack, "D1", ts))
    assert [m["text"] for m in msgs] == [model.default_plan.text]
    assert slack.count("chat.postMessage") == 1 and slack.count("chat.update") >= 1


def test_native_stream_refused_mid_answer_continues_without_loss(bot, slack, model):
    slack.native_refusal_after = 0  # the first appendStream is refused
    model.default_plan = Plan(tokens=words("alpha beta gamma delta epsilon zeta eta theta iota kappa"), delay_s=0.15)
    ts = slack.add_message("D1", "greek")
    bot.post_json(dm("greek", ts))
    msgs = wait_for(finished(slack, "D1", ts), timeout=15)
    assert len(msgs) == 2
    assert "".join(m["text"] for m in msgs) == model.default_plan.text


def test_updates_are_at_most_about_one_per_second_per_message(bot, slack, model):
    # One answer alone still shares chat.update's Tier 3 (~50/min) with itself: the write budget
    # spaces its updates by 60 s / (45 x 0.75) = 1.8 s; the gaps are never under a second.
    slack.native_refusal = "channel_type_not_supported"
    model.default_plan = Plan(tokens=[f" w{i}" for i in range(300)], delay_s=0.02)
    ts = slack.add_message("D1", "go")
    bot.post_json(dm("go", ts))
    msg = wait_for(finished(slack, "D1", ts), timeout=20)[0]
    times = msg["updates"]
    periodic = times[:-1]  # the final write is immediate; every other one waits for the interval
    gaps = [b - a for a, b in zip(periodic, periodic[1:])]
    assert len(gaps) >= 2 and min(gaps) >= 0.9


@pytest.mark.parametrize(
    "plan, words_expected",
    [
        (Plan(fail="401"), "401"),
        (Plan(fail="500"), "error (500)"),
        (Plan(fail="429"), "429"),
        (Plan(tokens=words("this answer will be cut"), fail="cut", fail_after=3), "cut off"),
    ],
    ids=["401", "500", "429", "cut"],
)
def test_model_failures_end_with_a_visible_error(bot, slack, model, plan, words_expected):
    model.default_plan = plan
    ts = slack.add_message("D1", "hi")
    bot.post_json(dm("hi", ts))
    msgs = wait_for(finished(slack, "D1", ts), timeout=20)
    assert ":warning:" in msgs[-1]["text"] and words_expected in msgs[-1]["text"]
    assert msgs[-1]["metadata"]["event_payload"]["state"] == "error"
    if plan.fail == "cut":
        assert msgs[-1]["text"].startswith("this answer")
    else:
        assert msgs[-1]["text"].startswith(":warning:")  # the note alone, no blank lines above it
    assert bot.alive()


def test_model_stall_times_out_with_a_visible_error(start_bot, slack, model):
    bot = start_bot(MODEL_TIMEOUT_SECONDS="1")
    model.default_plan = Plan(tokens=words("slow start then nothing"), fail="stall", fail_after=2, delay_s=0)
    ts = slack.add_message("D1", "hi")
    bot.post_json(dm("hi", ts))
    msgs = wait_for(finished(slack, "D1", ts), timeout=30)
    assert "timeout" in msgs[-1]["text"]


def test_users_outside_the_allow_list_get_a_short_explanation(start_bot, slack, model):
    bot = start_bot(ALLOWED_USER_IDS="U9")
    ts = slack.add_message("D1", "let me in")
    bot.post_json(dm("let me in", ts))
    notice = wait_for(lambda: slack.bot_messages("D1", ts))
    assert "not enabled for you" in notice[0]["text"]
    assert model.requests == []


def test_events_from_other_teams_do_nothing(start_bot, slack, model):
    bot = start_bot(ALLOWED_TEAM_IDS="T1")
    envelope = dm("hi", "1700000000.000001")
    envelope["team_id"] = "T666"
    assert bot.post_json(envelope).status == 200
    settle()
    assert slack.calls == [] and model.requests == []
