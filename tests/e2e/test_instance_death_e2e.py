"""An instance that dies mid-answer: two function instances behind the Cloud Tasks fake, the one
answering is killed with SIGKILL, the queue redelivers to the other, which takes over
(function/teambot/answer/takeover.py). The thread must end with exactly one complete answer."""

import pytest

from teambot.answer.services import Context, Services
from teambot.answer.takeover import existing_answer, take_over
from teambot.core.jobs import Job
from teambot.slack.marks import answer_metadata, notice_metadata
from tests.e2e.test_answer_e2e import finished
from tests.e2e.test_cloud_tasks_e2e import oidc, start_tasks_bot, tasks  # noqa: F401  (fixtures)
from tests.e2e.test_stream_lifetime_e2e import ops, states  # noqa: F401  (ops is a fixture)
from tests.fakes.openai_api import Plan, words
from tests.harness import dm, wait_for

ANSWER = " ".join(f"token{i}" + ("\n" if i % 9 == 8 else "") for i in range(150))


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
    wait_for(
        lambda: (
            len([m for m in slack.bot_messages("D1", ts) if "token5" in m["text"]]) >= 1
            and len(slack.bot_messages("D1", ts)) >= parts_before_kill
        ),
        timeout=15,
    )
    first.kill()
    partial = [m["ts"] for m in slack.bot_messages("D1", ts)]

    # The takeover first stops the partial message ("stopped"), then deletes it: wait for "done".
    answered = finished(slack, "D1", ts)
    msgs = wait_for(lambda: (m := answered()) and states(m)[-1] == "done" and m, timeout=30)
    assert "".join(m["text"] for m in msgs) == model.default_plan.text
    assert states(msgs)[-1] == "done" and set(states(msgs)[:-1]) <= {"continued"}
    assert not any(m.get("streaming") or "▍" in m["text"] or "Thinking" in m["text"] for m in msgs)
    assert not set(partial) & {m["ts"] for m in msgs}  # the partial answer was replaced, not left beside
    assert all(slack.messages[p].get("deleted") and not slack.messages[p].get("streaming") for p in partial)

    deliveries = wait_for(lambda: tasks.deliveries if len(tasks.deliveries) == 2 else None)
    assert [d["status"] for d in deliveries] == [0, 200]  # the reset connection counted as a failure
    assert deliveries[1]["target"].endswith(str(second.port))
    assert len(model.requests) == 2 and model.requests[1].finished
    wait_for(lambda: model.requests[0].hung_up)  # noticed by the fake at its next write to the dead instance
    assert any(r.get("message") == "takeover" and r.get("messages") == len(partial) for r in second.log_records())


# -- in-process: finding the partial answer, and replacing it -------------------------------------
Q = "1700000000.000500"


def own(ts, state=None, reply_to=Q, **extra):
    meta = answer_metadata(reply_to, state) if state else extra.pop("metadata", None)
    return {"ts": ts, "user": "UBOT", "bot_id": "BBOT", "text": "x", **({"metadata": meta} if meta else {}), **extra}


def person(ts, user="U1"):
    return {"ts": ts, "user": user, "text": "y"}


def find(replies, by_position=True):
    return existing_answer(replies, Q, "UBOT", "BBOT", by_position=by_position)


def test_existing_answer_by_marks_and_by_position():
    earlier = [person("1700000000.000100"), own("1700000000.000200", "done", reply_to="1700000000.000100")]
    assert find(earlier + [person(Q), own("1700000000.000600", "done")]).complete
    partial = find(earlier + [person(Q), own("1700000000.000600", "continued"), own("1700000000.000700")])
    assert not partial.complete and [m["ts"] for m in partial.partial] == ["1700000000.000600", "1700000000.000700"]
    # An unmarked message counts only on a redelivery, only after the question, before a person speaks.
    assert find(earlier + [person(Q), own("1700000000.000600")], by_position=False).partial == []
    assert find([own("1700000000.000400"), person(Q)]).partial == []
    assert find([person(Q), person("1700000000.000550", "U2"), own("1700000000.000600")]).partial == []
    # Another bot speaking is not a person; our notices are never part of an answer.
    other_bot = {"ts": "1700000000.000550", "user": "U9", "bot_id": "B9", "text": "z"}
    assert len(find([person(Q), other_bot, own("1700000000.000600")]).partial) == 1
    assert find([person(Q), own("1700000000.000600", metadata=notice_metadata(Q))]).partial == []
    # A native stream stopped with the shortcut (reply_to unknown) ends the question.
    assert find([person(Q), own("1700000000.000600", "stopped", reply_to="")]).complete


def test_take_over_stops_an_open_stream_and_deletes_every_partial_part(slack, ops):  # noqa: F811
    question = slack.add_message("D1", "q")
    ops.call(
        "chat_postMessage",
        channel="D1",
        thread_ts=question,
        markdown_text="part one",
        metadata=answer_metadata(question, "continued"),
    )
    ops.call("chat_startStream", channel="D1", thread_ts=question, markdown_text="part two, still open")
    job = Job(kind="answer", team="T1", channel="D1", user="U1", message_ts=question)
    found = existing_answer(ops.thread("D1", question), question, "UBOT", "BBOT", by_position=True)
    assert len(found.partial) == 2 and not found.complete
    take_over(Context(Services(settings=None, secrets=None, slack=ops), delivery=1), job, found.partial)
    assert slack.bot_messages("D1", question) == []
    stream = next(m for m in slack.messages.values() if m.get("text", "").startswith("part two"))
    assert not stream["streaming"] and stream["metadata"]["event_payload"]["state"] == "stopped"


def test_a_summary_or_translation_of_a_message_is_not_its_answer():
    """Answers of other kinds to the same message ts (the Summarize / Translate shortcuts used on
    the question) never make the question count as answered, and the reverse."""
    from teambot.answer.takeover import answered_already

    summary = own("1700000000.000600", metadata=answer_metadata(Q, "done", "summarize_thread"))
    replies = [person(Q), summary]
    assert not existing_answer(replies, Q, "UBOT", "BBOT", by_position=True).complete
    assert not existing_answer(replies, Q, "UBOT", "BBOT", by_position=True).partial
    assert answered_already(replies, Q, "UBOT", "BBOT", kind="summarize_thread")
    assert not answered_already(replies + [own("1700000000.000700", "done")], Q, "UBOT", "BBOT", kind="translate_message")
