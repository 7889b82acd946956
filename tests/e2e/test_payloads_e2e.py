"""Real payloads, odd and ordinary (issue 18): a Slack read that fails inside a handler degrades
instead of killing the job; a bare @mention gets a hint without a model call; `me_message` and
`thread_broadcast` are answered like any message; on Enterprise Grid the stream's
recipient_team_id is the user's workspace, not the enterprise id."""

from __future__ import annotations

from tests.harness import assistant_thread_event, dm, mention, settle, wait_for


def test_thread_not_found_as_the_panel_opens_still_greets_and_suggests(bot, slack):
    # conversations.replies answers thread_not_found (the fake: no message in that thread yet;
    # docs.slack.dev/reference/methods/conversations.replies lists the error).
    thread_ts = slack.new_ts()
    assert bot.post_json(assistant_thread_event("assistant_thread_started", thread_ts)).status == 200
    wait_for(lambda: slack.count("assistant.threads.setSuggestedPrompts") == 1, 15)
    greeting = slack.bot_messages("D1", thread_ts)
    assert len(greeting) == 1 and greeting[0]["text"].startswith("Hi!")
    failed = [r for r in bot.log_records() if r.get("message") == "slack_read_failed"]
    assert len(failed) == 1 and failed[0]["severity"] == "ERROR" and failed[0]["slack_error"] == "thread_not_found"
    assert failed[0]["stack_trace"].startswith("Traceback")
    assert not [r for r in bot.log_records() if r.get("message") == "job_failed"]


def test_thread_not_found_as_the_context_changes_keeps_the_context(bot, slack):
    thread_ts = slack.new_ts()
    event = assistant_thread_event("assistant_thread_context_changed", thread_ts, context_channel="C7")
    assert bot.post_json(event).status == 200
    msgs = wait_for(lambda: slack.bot_messages("D1", thread_ts), 15)
    assert msgs[0]["metadata"]["event_payload"]["channel_id"] == "C7"
    assert [r for r in bot.log_records() if r.get("message") == "slack_read_failed"]
    assert not [r for r in bot.log_records() if r.get("message") == "job_failed"]


def test_a_bare_mention_gets_a_hint_and_no_model_call(bot, slack, model):
    ts = slack.add_message("C1", "<@UBOT>")
    assert bot.post_json(mention("<@UBOT>", ts)).status == 200
    msgs = wait_for(lambda: slack.bot_messages("C1", ts), 15)
    assert "question" in msgs[0]["text"]
    settle()
    assert model.requests == []
    record = [r for r in bot.log_records() if r.get("message") == "answer"][0]
    assert record["outcome"] == "bare_mention"


def test_me_message_and_thread_broadcast_are_answered(bot, slack, model):
    ts1 = slack.add_message("D1", "wonders what a monad is")
    assert bot.post_json(dm("wonders what a monad is", ts1, subtype="me_message")).status == 200
    root = slack.add_message("C1", "root")
    ts2 = slack.add_message("C1", "<@UBOT> and also this?", thread_ts=root, subtype="thread_broadcast")
    envelope = mention("<@UBOT> and also this?", ts2, thread_ts=root)
    envelope["event"]["subtype"] = "thread_broadcast"
    assert bot.post_json(envelope).status == 200
    wait_for(lambda: slack.bot_messages("D1", ts1) and slack.bot_messages("C1", root), 15)
    wait_for(lambda: len(model.requests) == 2)  # a reply can show (its placeholder) before the model is asked
    assert len(model.requests) == 2


def test_grid_org_user_streams_to_their_workspace_not_the_enterprise(bot, slack, model):
    # An org-level user: user_team is the enterprise id; the event's `team` is the workspace.
    slack.user_teams["W1"] = "T1"  # the fake refuses a startStream whose recipient_team_id is not this
    ts = slack.add_message("C1", "<@UBOT> hi from the org", user="W1")
    envelope = mention("<@UBOT> hi from the org", ts, user="W1")
    envelope["enterprise_id"] = "E1"
    envelope["authorizations"][0]["enterprise_id"] = "E1"
    envelope["event"].update({"user_team": "E1", "team": "T1", "source_team": "T1"})
    assert bot.post_json(envelope).status == 200
    # The fake records a call when it arrives and its "ok" once handled: wait for the outcome.
    start = wait_for(lambda: next((c for c in slack.calls if c["method"] == "chat.startStream" and "ok" in c), None), 15)
    assert start["ok"] is True
    assert model.requests


def test_user_team_prefers_a_workspace_id():
    from teambot.ack.payloads import user_team

    assert user_team({"user_team": "E1", "team": "T2"}, {"team_id": "T1"}) == "T2"
    assert user_team({"user_team": "E1"}, {"team_id": "T1", "authorizations": [{"team_id": "T3"}]}) == "T3"
    assert user_team({"user_team": "T9", "team": "T1"}, {"team_id": "T1"}) == "T9"
    assert user_team({}, {"team_id": "T1"}) == "T1"
