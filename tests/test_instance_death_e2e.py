"""An instance that dies mid-answer: two function instances behind the Cloud Tasks fake, the one
answering is killed with SIGKILL, the queue redelivers to the other, which takes over
(function/teambot/takeover.py). The thread must end with exactly one complete answer."""

import pytest

from tests.fakes.openai_api import Plan, words
from tests.harness import dm, wait_for
from tests.test_answer_e2e import finished
from tests.test_cloud_tasks_e2e import start_tasks_bot, tasks  # noqa: F401  (fixtures)
from tests.test_stream_lifetime_e2e import states

ANSWER = " ".join(f"token{i}" + ("\n" if i % 9 == 8 else "") for i in range(150))


@pytest.fixture
def oidc():
    from tests.fakes.google_oidc import FakeGoogleOIDC

    fake = FakeGoogleOIDC().start()
    yield fake
    fake.stop()


@pytest.mark.parametrize("mode", ["native", "update", "native-several-messages"])
def test_redelivery_after_sigkill_leaves_one_complete_answer(start_tasks_bot, tasks, slack, model, mode):  # noqa: F811
    env = {"SLACK_UPDATE_INTERVAL_SECONDS": "0.2"}
    if mode == "update":
        slack.native_refusal = "channel_type_not_supported"
    if mode == "native-several-messages":  # the dying instance already closed parts ("continued")
        env["SLACK_STREAM_MAX_AGE_SECONDS"] = "0.4"
    first, second = start_tasks_bot(**env), start_tasks_bot(**env)  # the queue delivers to first, then second
    model.default_plan = Plan(tokens=words(ANSWER), delay_s=0.03)  # ~4.5 s
    ts = slack.add_message("D1", "a question")
    first.post_json(dm("a question", ts))
    parts_before_kill = 2 if mode == "native-several-messages" else 1
    wait_for(lambda: len([m for m in slack.bot_messages("D1", ts) if "token5" in m["text"]]) >= 1
             and len(slack.bot_messages("D1", ts)) >= parts_before_kill, timeout=15)
    first.kill()
    partial = [m["ts"] for m in slack.bot_messages("D1", ts)]

    msgs = wait_for(finished(slack, "D1", ts), timeout=30)
    assert "".join(m["text"] for m in msgs) == model.default_plan.text
    assert states(msgs)[-1] == "done" and set(states(msgs)[:-1]) <= {"continued"}
    assert not any(m.get("streaming") or "▍" in m["text"] or "Thinking" in m["text"] for m in msgs)
    assert not set(partial) & {m["ts"] for m in msgs}  # the partial answer was replaced, not left beside
    assert all(slack.messages[p].get("deleted") and not slack.messages[p].get("streaming") for p in partial)

    deliveries = wait_for(lambda: tasks.deliveries if len(tasks.deliveries) == 2 else None)
    assert [d["status"] for d in deliveries] == [0, 200]  # the reset connection counted as a failure
    assert deliveries[1]["target"].endswith(str(second.port))
    assert len(model.requests) == 2 and model.requests[0].hung_up and model.requests[1].finished
    assert any(r.get("message") == "takeover" and r.get("messages") == len(partial) for r in second.log_records())
