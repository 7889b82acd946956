"""Usage and budgets end to end: the real function process (USAGE_STORE=firestore on the real
emulator, as deployed), signed Slack events, the fake Slack (views.publish) and the fake model."""

import json
import time
import uuid

from tests.fakes.openai_api import Plan
from tests.harness import event_envelope, free_port, wait_for

# The fake model reports 42 prompt tokens + one completion token per streamed token.
PLAN = Plan(tokens=["Hi", " there", "."])
ANSWER_TOKENS = 42 + 3


def question(slack, bot, text, *, user="U1", channel="D1"):
    from tests.harness import dm

    ts = slack.add_message(channel, text, user=user)
    assert bot.post_json(dm(text, ts, user=user, channel=channel)).status == 200
    return ts


def open_home(bot, *, user="U1", ts="1700000100.000100"):
    event = {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home", "event_ts": ts}
    assert bot.post_json(event_envelope(event, event_id=f"Evh{ts}")).status == 200


def home_text(slack, user="U1"):
    return json.dumps(slack.home_views.get(user) or {}, ensure_ascii=False)


def home_shows(slack, bot, text, *, tries=20):
    """Open the Home tab (as the user does, again if needed) until it shows `text`."""
    for n in range(tries):
        slack.home_views.pop("U1", None)
        open_home(bot, ts=f"1700000100.{n:06d}")
        wait_for(lambda: slack.home_views.get("U1"), timeout=15)
        shown = home_text(slack)  # read once: a slower publish of an earlier open may land after it
        if text in shown:
            return shown
        time.sleep(0.2)
    raise AssertionError(f"the Home tab never showed {text!r}: {home_text(slack)[:500]}")


def answers(bot):
    return [r for r in bot.log_records() if r.get("message") == "answer"]


def firestore_env(host):
    return {
        "USAGE_STORE": "firestore",
        "FIRESTORE_EMULATOR_HOST": host,
        "GOOGLE_CLOUD_PROJECT": f"e2e-{uuid.uuid4().hex[:12]}",
    }  # a project of its own: fresh counters


def test_a_budget_refuses_the_next_question_without_calling_the_model(start_bot, slack, model, firestore_emulator):
    model.default_plan = PLAN
    bot = start_bot(DAILY_TOKEN_BUDGET_PER_USER=ANSWER_TOKENS, ADMIN_USER_IDS="U1", **firestore_env(firestore_emulator))
    first = question(slack, bot, "first question")
    wait_for(
        lambda: [m for m in slack.bot_messages("D1", first) if m["text"] == PLAN.text and not m.get("streaming")], timeout=30
    )
    # The Home tab, published by the function, shows what the ledger counted (also our signal that
    # the recording, which follows the answer's last write, has landed).
    # Wait for the day's line itself: the month's top-users document can land a moment before the
    # day documents (separate writes), and a Home tab opened in between shows both.
    home = home_shows(slack, bot, "100% used today")
    assert f"{ANSWER_TOKENS} tokens · 1 answer" in home and "Top users this month" in home, home

    second = question(slack, bot, "second question")  # the day's total has reached the budget
    notice = wait_for(lambda: slack.bot_messages("D1", second), timeout=30)[0]
    assert "usage limit" in notice["text"] and "midnight UTC" in notice["text"]
    assert len(model.requests) == 1  # no model call for the refused question
    assert wait_for(lambda: [r for r in answers(bot) if r["outcome"] == "over_budget"], timeout=10)[0]["user"] == "U1"

    other = question(slack, bot, "someone else", user="U2", channel="D2")  # budgets are per person
    wait_for(lambda: [m for m in slack.bot_messages("D2", other) if m["text"] == PLAN.text], timeout=30)
    assert len(model.requests) == 2
    assert "second question" not in bot.logs() and "Hi there" not in bot.logs()


def test_firestore_down_answers_still_flow(start_bot, slack, model):
    model.default_plan = PLAN
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    bot = start_bot(DAILY_TOKEN_BUDGET_PER_USER=1, **{**firestore_env(dead)})
    ts = question(slack, bot, "a question while the store is down")
    wait_for(lambda: [m for m in slack.bot_messages("D1", ts) if m["text"] == PLAN.text and not m.get("streaming")], timeout=30)
    logged = wait_for(
        lambda: (
            {r["message"] for r in bot.log_records()} >= {"answer", "usage_check_failed", "usage_record_deferred"}
            and bot.log_records()
        ),
        timeout=30,
    )
    assert [r["outcome"] for r in logged if r.get("message") == "answer"] == ["done"]
    home_shows(slack, bot, "unavailable right now")
    assert bot.alive()
