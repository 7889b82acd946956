"""The usage stages of the handlers, in-process: the real handlers, SlackOps and the model client
against the loopback fakes, with a ledger on the in-process store."""

from __future__ import annotations

import pytest

from teambot.answer.services import Context, Services
from teambot.core.errors import BadRequest
from teambot.core.settings import Settings
from teambot.gcp.secret_store import SecretStore
from teambot.handlers.app_home import home_from_event, publish_home
from teambot.handlers.questions import answer_question, question_from_event
from teambot.slack.client import SlackOps
from teambot.usage.ledger import UsageLedger
from teambot.usage.store import MemoryUsageStore
from tests.fakes.openai_api import Plan
from tests.harness import dm, event_envelope


@pytest.fixture
def make_ctx(slack, model):
    def make(**ledger_args) -> Context:
        settings = Settings(
            slack_api_url=slack.url + "/api/",
            openai_base_url=model.url + "/v1",
            openai_model="gpt-5-mini",
            admin_user_ids=frozenset({"UADMIN"}),
        )
        secrets = SecretStore({"SLACK_BOT_TOKEN": "xoxb-test", "OPENAI_API_KEY": "sk-test"})
        ledger = UsageLedger(MemoryUsageStore(), **ledger_args)
        return Context(Services(settings=settings, secrets=secrets, slack=SlackOps(settings, secrets), usage=ledger))

    return make


def ask(slack, ctx, text="a question", user="U1"):
    ts = slack.add_message("D1", text, user=user)
    answer_question(ctx, question_from_event(dm(text, ts, user=user), ctx.settings))
    return ts


def month(ctx, user="U1"):
    return ctx.usage.summary("T1", user).user_month


def test_over_budget_posts_the_notice_and_never_calls_the_model(make_ctx, slack, model):
    ctx = make_ctx(user_budget=40)
    ask(slack, ctx)  # 42 + 5 tokens: the budget is reached
    assert len(model.requests) == 1 and month(ctx).tokens == 47
    ts = ask(slack, ctx, "another one")
    assert len(model.requests) == 1
    [notice] = slack.bot_messages("D1", ts)
    assert "usage limit" in notice["text"] and "midnight UTC" in notice["text"]
    assert month(ctx).answers == 1  # a refusal costs nothing


def test_a_cut_answer_that_used_tokens_is_counted_with_an_estimate(make_ctx, slack, model):
    model.plans = [Plan(tokens=["word "] * 40, fail="cut", fail_after=20)]
    ctx = make_ctx()
    ask(slack, ctx, "x" * 400)
    totals = month(ctx)
    # No usage chunk arrived: prompt ~ system prompt + 400 chars / 4, completion ~ 100 chars / 4.
    assert totals.answers == 1 and totals.prompt_tokens > 100 and 25 <= totals.completion_tokens <= 40
    assert totals.cost_usd > 0


def test_a_refused_model_call_is_not_counted(make_ctx, slack, model):
    model.plans = [Plan(fail="429")] * 5  # the SDK's retries get the same answer
    ctx = make_ctx()
    ask(slack, ctx)
    assert month(ctx).answers == 0


def test_home_tab_event_parsing():
    job = home_from_event(
        event_envelope(
            {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home", "event_ts": "1700000000.000100"}
        ),
        Settings(),
    )
    assert (job.kind, job.team, job.user, job.channel, job.message_ts) == ("app_home", "T1", "U1", "D1", "1700000000.000100")
    messages_tab = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "messages", "event_ts": "1.000001"}
    assert home_from_event(event_envelope(messages_tab), Settings()) is None
    with pytest.raises(BadRequest):
        home_from_event(event_envelope({"type": "app_home_opened", "tab": "home", "event_ts": "1.000001"}), Settings())


def test_publish_home_admins_see_top_users(make_ctx, slack, model):
    ctx = make_ctx()
    ask(slack, ctx, user="U1")
    ask(slack, ctx, user="UADMIN")
    for user in ("U1", "UADMIN"):
        publish_home(
            ctx,
            home_from_event(
                event_envelope({"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home", "event_ts": "1.000001"}),
                ctx.settings,
            ),
        )
    assert "47 tokens · 1 answer" in str(slack.home_views["U1"]) and "Top users" not in str(slack.home_views["U1"])
    assert "Top users this month" in str(slack.home_views["UADMIN"]) and "<@U1>" in str(slack.home_views["UADMIN"])
