from tests.harness import dm, wait_for


def test_dm_is_answered_in_thread_with_the_models_full_output(bot, slack, model):
    ts = slack.add_message("D1", "What is 2+2?")
    r = bot.post_json(dm("What is 2+2?", ts))
    assert r.status == 200
    answer = wait_for(lambda: [m for m in slack.bot_messages("D1", ts) if m["metadata"] and not m.get("streaming")])
    assert answer[0]["text"] == model.default_plan.text
    assert answer[0]["thread_ts"] == ts
