"""Who may use the team's key (issue 18, SECURITY.md "Slack Connect"): a member of another
organization in a shared channel or DM is not answered by default (no model call, no Slack write);
members of the installing workspace and of its Enterprise Grid org are; ALLOWED_EXTERNAL_TEAM_IDS
lets listed teams (or `*`) in. Envelope fields as in Slack's docs: team_id, enterprise_id,
authorizations[], is_ext_shared_channel (docs.slack.dev/apis/events-api, "Callback field" and
"Authorizations"), event.user_team for the user's own team (docs.slack.dev/apis/slack-connect)."""

from __future__ import annotations

import pytest

from tests.harness import dm, mention, settle, shortcut, wait_for


def connect(envelope: dict, user_team: str, *, enterprise: str | None = None, ext_shared: bool = True) -> dict:
    envelope["event"].update({"user_team": user_team, "source_team": user_team})
    envelope["is_ext_shared_channel"] = ext_shared
    if enterprise:
        envelope["enterprise_id"] = enterprise
        for auth in envelope["authorizations"]:
            auth["enterprise_id"] = enterprise
    return envelope


def refused(bot) -> list[dict]:
    return [r for r in bot.log_records() if r.get("message") == "not_answered" and r.get("reason") == "external_team"]


@pytest.mark.parametrize("make", ["mention", "dm"])
def test_a_slack_connect_stranger_gets_no_model_call_and_no_slack_write(bot, slack, model, make):
    text = "<@UBOT> please use your key for me"
    ts = slack.add_message("C1" if make == "mention" else "D1", text, user="U9")
    envelope = mention(text, ts, user="U9") if make == "mention" else dm(text, ts, user="U9")
    assert bot.post_json(connect(envelope, "T9")).status == 200
    record = wait_for(lambda: refused(bot))[0]
    assert record["user_team"] == "T9"
    settle()  # a job would have started by now
    assert model.requests == []
    writes = [c for c in slack.calls if c["method"] not in ("auth.test",)]
    assert writes == []
    assert "use your key" not in bot.logs()


def test_an_allowed_external_team_and_star_are_answered(start_bot, slack, model):
    for allowed in ("T9", "*"):
        bot = start_bot(ALLOWED_EXTERNAL_TEAM_IDS=allowed)
        ts = slack.add_message("D1", "hello", user="U9")
        assert bot.post_json(connect(dm("hello", ts, user="U9"), "T9")).status == 200
        wait_for(lambda ts=ts: slack.bot_messages("D1", ts), 15)
        assert not refused(bot)
        bot.stop()
    assert len(model.requests) == 2


def test_members_of_the_same_enterprise_grid_org_are_answered(bot, slack, model):
    # An org-level user (user_team = the enterprise id) in an externally shared channel...
    ts1 = slack.add_message("D1", "one", user="W1")
    assert bot.post_json(connect(dm("one", ts1, user="W1"), "E1", enterprise="E1")).status == 200
    # ... and a user of a sibling workspace in an org-internal conversation.
    ts2 = slack.add_message("D2", "two", user="W2")
    assert bot.post_json(connect(dm("two", ts2, user="W2", channel="D2"), "T7", enterprise="E1", ext_shared=False)).status == 200
    wait_for(lambda: slack.bot_messages("D1", ts1) and slack.bot_messages("D2", ts2), 15)
    assert not refused(bot) and len(model.requests) == 2


def test_the_same_stranger_outside_grid_in_a_shared_channel_is_refused_even_if_not_flagged(bot, slack, model):
    ts = slack.add_message("C1", "<@UBOT> hi", user="U9")
    assert bot.post_json(connect(mention("<@UBOT> hi", ts, user="U9"), "T9", ext_shared=False)).status == 200
    wait_for(lambda: refused(bot))
    assert model.requests == []


def test_a_strangers_message_shortcut_is_not_run(bot, slack, model):
    ts = slack.add_message("C1", "some text", user="U1")
    payload = shortcut("summarize_thread", {"channel": "C1", "ts": ts, "text": "some text", "user": "U1"}, user="U9")
    payload["user"]["team_id"] = "T9"
    assert bot.post_form(payload).status == 200
    wait_for(lambda: refused(bot))
    settle()
    assert model.requests == []


def test_stranger_rule_units():
    from teambot.core.access import stranger_team

    home, orgs = frozenset({"T1"}), frozenset({"E1"})
    rule = dict(home_teams=home, home_orgs=frozenset(), ext_shared=True, allowed_external=frozenset())
    assert stranger_team("", **rule) is None
    assert stranger_team("T1", **rule) is None
    assert stranger_team("T9", **rule) == "T9"
    assert stranger_team("T9", **{**rule, "allowed_external": frozenset({"T9"})}) is None
    assert stranger_team("T9", **{**rule, "allowed_external": frozenset({"*"})}) is None
    grid = {**rule, "home_orgs": orgs}
    assert stranger_team("E1", **grid) is None
    assert stranger_team("T7", **{**grid, "ext_shared": False}) is None
    assert stranger_team("T7", **grid) == "T7"  # shared outside the org: not provably ours
