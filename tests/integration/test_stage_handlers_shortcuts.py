"""Stage: the worker's message-shortcut handlers (teambot/handlers/): stop_generation,
delete_message, summarize_thread, translate_message, add_to_knowledge, list_knowledge. Each
shortcut payload is parsed by the real ingress parser and registry, and its real handler runs
in this process (tests/integration/handler_stage.py) over SlackOps (slack_sdk) and the openai
SDK; the assertions are on what the Slack and OpenAI fakes saw. Started in this process: the
Slack and OpenAI loopback fakes (conftest `slack`, `model`) and, for the local stop, one thread
running a real answer."""

from __future__ import annotations

import json
import threading
import time

import pytest

from teambot.core.access import NOT_ALLOWED
from teambot.core.errors import BadRequest
from teambot.handlers.delete_message import NOT_MINE as NOT_MINE_TO_DELETE
from teambot.handlers.questions import answer_question, question_from_event
from teambot.handlers.stop_generation import ALREADY_DONE, NOT_MINE, STOPPED_CONFIRMATION
from teambot.handlers.summarize_thread import NOTHING
from teambot.handlers.translate_message import NO_TEXT
from teambot.slack.marks import CONTINUED, DONE, STOPPED, STOPPED_NOTE, STREAMING, answer_metadata
from tests.fakes.openai_api import Plan, words
from tests.harness import dm, shortcut, wait_for
from tests.integration.handler_stage import (
    fresh_process_memory,  # noqa: F401 (autouse fixture)
    make_context,
    parse,
    run,
    said_to,
    state,
    writes,
)
from tests.integration.stage_helpers import log_records
from tests.sample_files import pdf

SHORTCUTS = ("stop_generation", "delete_message", "summarize_thread", "translate_message", "add_to_knowledge", "list_knowledge")


def bot_answer(slack, channel, question_ts, text, mark=DONE, **extra) -> str:
    """An answer of ours in the fake, as another instance (or an earlier run) left it."""
    return slack.add_message(
        channel,
        text,
        user=slack.bot_user_id,
        bot_id=slack.bot_id,
        thread_ts=question_ts,
        **extra,
        metadata=answer_metadata(question_ts, mark) if mark else None,
    )


def press(slack, callback_id, ts, *, user="U1"):
    return shortcut(callback_id, dict(slack.messages[ts]), user=user)


# -- parsing ------------------------------------------------------------------------------------
def test_every_message_shortcut_becomes_a_job_of_its_kind_with_its_target(slack):
    root = slack.add_message("C1", "root", user="U2")
    ts = bot_answer(slack, "C1", root, "an answer")
    for callback_id in SHORTCUTS:
        job = parse(press(slack, callback_id, ts, user="U5"))
        assert (job.kind, job.team, job.channel, job.user, job.message_ts, job.thread_ts, job.text) == (
            callback_id,
            "T1",
            "C1",
            "U5",
            ts,
            root,
            "an answer",
        )
        assert job.target == {"user": "UBOT", "bot_id": "BBOT", "metadata": answer_metadata(root, DONE)}
    # Two people on one message are two jobs (the nonce is the user); a double click is one.
    assert (
        parse(press(slack, "stop_generation", ts)).dedup_key()
        != parse(press(slack, "stop_generation", ts, user="U5")).dedup_key()
    )
    assert parse(press(slack, "stop_generation", ts)).dedup_key() == parse(press(slack, "stop_generation", ts)).dedup_key()
    assert parse({**press(slack, "stop_generation", ts), "callback_id": "not_ours"}) is None
    for broken in (
        {**press(slack, "delete_message", ts), "message": None},
        {**press(slack, "delete_message", ts), "channel": {}},
        {**press(slack, "delete_message", ts), "message": {"ts": "yesterday"}, "message_ts": None},
        {**press(slack, "delete_message", ts), "user": {"name": "no id"}},
    ):
        with pytest.raises(BadRequest):
            parse(broken)


# -- stop_generation ----------------------------------------------------------------------------
def test_stop_on_someone_elses_message_is_refused_and_nothing_else_happens(slack, model):
    ctx = make_context(slack, model)
    ts = slack.add_message("C1", "a human message", user="U7")
    run(ctx, press(slack, "stop_generation", ts))
    assert said_to(slack, "U1") == [NOT_MINE]
    assert writes(slack) == [] and model.requests == [] and slack.messages[ts]["text"] == "a human message"


def test_stop_on_a_finished_answer_says_it_is_already_complete(slack, model):
    ctx = make_context(slack, model)
    q = slack.add_message("D1", "hi")
    ts = bot_answer(slack, "D1", q, "Hello from the model.", mark=DONE)
    run(ctx, press(slack, "stop_generation", ts))
    assert said_to(slack, "U1") == [ALREADY_DONE]
    assert writes(slack) == []  # the answer is left as it is
    assert slack.messages[ts]["text"] == "Hello from the model." and state(slack.messages[ts]) == DONE


def test_stop_on_an_update_mode_answer_written_elsewhere_replaces_it_with_a_stopped_copy(slack, model):
    ctx = make_context(slack, model)
    q = slack.add_message("D1", "tell me a story")
    ts = bot_answer(slack, "D1", q, "Once upon a time ▍", mark=STREAMING)
    run(ctx, press(slack, "stop_generation", ts))
    # The writer's next chat.update finds its message gone (message_not_found): it stops too.
    assert slack.messages[ts].get("deleted")
    [copy] = slack.bot_messages("D1", q)
    assert copy["text"] == "Once upon a time" + STOPPED_NOTE
    assert copy["metadata"] == answer_metadata(q, STOPPED) and copy["thread_ts"] == q
    assert said_to(slack, "U1") == [STOPPED_CONFIRMATION] and model.requests == []


def test_stop_on_a_native_stream_written_elsewhere_ends_it_with_the_stop_mark(slack, model):
    ctx = make_context(slack, model)
    q = slack.add_message("D1", "tell me a story")
    # A native stream has no metadata until it is stopped (chat.startStream carries none).
    ts = bot_answer(slack, "D1", q, "Once upon", mark=None, streaming=True, appends=3, stream_started=time.monotonic())
    run(ctx, press(slack, "stop_generation", ts))
    message = slack.messages[ts]
    assert not message["streaming"] and message["text"] == "Once upon" + STOPPED_NOTE
    assert message["metadata"] == answer_metadata("", STOPPED)  # reply_to unknown: takeover.py attributes it
    assert said_to(slack, "U1") == [STOPPED_CONFIRMATION]


def test_stop_on_a_native_part_its_writer_just_closed_stops_the_part_being_written(slack, model):
    """Clicked while the part was live; by the time the stop runs, its writer has closed it (a
    renewal before Slack's age limit) and goes on in a new stream: the stop follows the answer."""
    ctx = make_context(slack, model)
    q = slack.add_message("D1", "tell me a story")
    first = bot_answer(slack, "D1", q, "Once upon", mark=None, streaming=True, appends=3, stream_started=time.monotonic())
    clicked = press(slack, "stop_generation", first)
    slack.messages[first].update(streaming=False, metadata=answer_metadata(q, CONTINUED))
    second = bot_answer(slack, "D1", q, " a time", mark=None, streaming=True, appends=1, stream_started=time.monotonic())
    run(ctx, clicked)
    message = slack.messages[second]
    assert not message["streaming"] and message["text"] == " a time" + STOPPED_NOTE and state(message) == STOPPED
    assert state(slack.messages[first]) == CONTINUED and said_to(slack, "U1") == [STOPPED_CONFIRMATION]


def test_stop_on_an_earlier_part_finds_the_live_one_past_what_people_wrote_meanwhile(slack, model):
    """A part's ts is when it started, so what people write while it streams comes before the next
    part: with the answer known (its mark), that does not hide the part being written."""
    ctx = make_context(slack, model)
    q = slack.add_message("D1", "tell me a long story")
    first = bot_answer(slack, "D1", q, "Once upon", mark=CONTINUED)
    slack.add_message("D1", "go on, this is great", thread_ts=q, user="U2")
    bot_answer(slack, "D1", q, " a time", mark=CONTINUED)
    live = bot_answer(slack, "D1", q, " there was", mark=None, streaming=True, appends=1, stream_started=time.monotonic())
    run(ctx, press(slack, "stop_generation", first))
    assert not slack.messages[live]["streaming"] and state(slack.messages[live]) == STOPPED
    assert said_to(slack, "U1") == [STOPPED_CONFIRMATION]


@pytest.mark.parametrize("native", [True, False], ids=["native", "update"])
def test_stop_on_an_answer_being_written_here_cancels_it_and_closes_the_model_stream(slack, model, native, capsys):
    ctx = make_context(slack, model)
    if not native:
        slack.native_refusal = "channel_type_not_supported"  # the answer is written by chat.update
    model.default_plan = Plan(tokens=[f" t{i}" for i in range(300)], delay_s=0.02)  # ~6 s if never stopped
    q = slack.add_message("D1", "tell me a long story")
    worker = threading.Thread(
        target=answer_question, args=(ctx, question_from_event(dm("tell me a long story", q), ctx.settings)), daemon=True
    )
    worker.start()
    try:
        ts = wait_for(lambda: next((m["ts"] for m in slack.bot_messages("D1", q) if m["text"].strip(" ▍")), None))
        wait_for(lambda: ctx.generations.get(ts))  # the pipeline registered it under its message
        run(ctx, press(slack, "stop_generation", ts))
        wait_for(lambda: model.requests[0].hung_up or model.requests[0].finished)
        assert model.requests[0].hung_up and model.requests[0].tokens_sent < 300
        wait_for(lambda: not worker.is_alive())
    finally:
        for generation in ctx.generations.in_thread("D1", q):  # a failed test leaves no answer streaming
            generation.cancel()
    assert said_to(slack, "U1") == [STOPPED_CONFIRMATION]
    [answer] = slack.bot_messages("D1", q)
    assert state(answer) == STOPPED and answer["text"].rstrip().endswith("_⏹ Stopped._")
    assert writes(slack, ("chat.delete",)) == []  # cancelled here, not replaced from outside
    assert [r["how"] for r in log_records(capsys.readouterr().out) if r.get("message") == "stop"] == ["local"]


# -- delete_message -----------------------------------------------------------------------------
def test_delete_removes_the_bots_message_and_confirms(slack, model):
    ctx = make_context(slack, model)
    q = slack.add_message("C1", "question", user="U2")
    ts = bot_answer(slack, "C1", q, "an answer")
    run(ctx, press(slack, "delete_message", ts, user="U2"))
    assert slack.messages[ts].get("deleted") and said_to(slack, "U2") == ["Deleted."]
    # A second click, once Slack no longer has it, is told so (message_not_found is not an error).
    run(ctx, press(slack, "delete_message", ts, user="U2"))
    assert said_to(slack, "U2") == ["Deleted.", "That message is already gone."]


def test_delete_refuses_someone_elses_message(slack, model):
    ctx = make_context(slack, model)
    ts = slack.add_message("C1", "mine, not the bot's", user="U2")
    run(ctx, press(slack, "delete_message", ts, user="U2"))
    assert said_to(slack, "U2") == [NOT_MINE_TO_DELETE]
    assert not slack.messages[ts].get("deleted") and slack.count("chat.delete") == 0


# -- summarize_thread ---------------------------------------------------------------------------
def a_thread(slack, channel="C1", replies=3) -> str:
    root = slack.add_message(channel, "Should we ship on Friday?", user="U1")
    for i in range(replies):
        slack.add_message(
            channel, f"reply {i}: the tests are {'green' if i % 2 else 'red'}", user=f"U{2 + i % 2}", thread_ts=root
        )
    return root


def test_summarize_streams_one_summary_into_the_thread_of_the_message(slack, model):
    ctx = make_context(slack, model)
    root = a_thread(slack)
    inner = slack.thread("C1", root)[2]
    model.default_plan = Plan(tokens=words("We ship Friday once the tests are green."))
    job = run(ctx, press(slack, "summarize_thread", inner["ts"], user="U4"))
    [answer] = slack.bot_messages("C1", root)
    assert answer["text"] == "We ship Friday once the tests are green." and answer["thread_ts"] == root
    assert state(answer) == DONE
    [request] = model.requests
    system, user = request.body["messages"]
    assert system["role"] == "system" and "summarize" in system["content"].lower()
    assert "<@U1>: Should we ship on Friday?" in user["content"] and "<@U3>: reply 1: the tests are green" in user["content"]
    # A redelivered task (Cloud Tasks retry) finds the summary there and writes nothing more.
    run(ctx, job, delivery=1)
    assert len(model.requests) == 1 and len(slack.bot_messages("C1", root)) == 1


def test_a_long_thread_is_summarized_in_parts_each_within_the_budget(slack, model):
    ctx = make_context(slack, model, MAX_CONTEXT_TOKENS="1500")
    root = slack.add_message("C1", "Incident review", user="U1")
    for i in range(40):
        slack.add_message("C1", f"note {i}: " + "details " * 40, user="U2", thread_ts=root)
    model.responder = lambda body: Plan(tokens=["part summary" if "part" in body["messages"][1]["content"][:40] else "final"])
    run(ctx, press(slack, "summarize_thread", root))
    assert [m["text"] for m in slack.bot_messages("C1", root)] == ["final"]
    assert len(model.requests) >= 3
    for request in model.requests:
        assert sum(len(m["content"]) for m in request.body["messages"]) // 4 <= 1500
    assert model.requests[-1].body["messages"][1]["content"].count("part summary") == len(model.requests) - 1
    everything = json.dumps([r.body for r in model.requests[:-1]])
    assert "note 0:" in everything and "note 39:" in everything


def test_summarize_refuses_people_it_does_not_serve_and_an_empty_thread(slack, model):
    root = a_thread(slack)
    run(make_context(slack, model, ALLOWED_USER_IDS="U9"), press(slack, "summarize_thread", root))
    assert said_to(slack, "U1") == [NOT_ALLOWED]
    empty = slack.add_message("C1", "", user="U2")
    run(make_context(slack, model), press(slack, "summarize_thread", empty))
    assert said_to(slack, "U1") == [NOT_ALLOWED, NOTHING]
    assert model.requests == [] and writes(slack) == []


# -- translate_message --------------------------------------------------------------------------
def test_translate_uses_the_users_locale_and_answers_in_the_thread(slack, model):
    ctx = make_context(slack, model)
    slack.set_locale("U7", "fr-FR")
    root = slack.add_message("C1", "Kickoff", user="U1")
    ts = slack.add_message("C1", "The deploy is blocked by a failing test.", user="U2", thread_ts=root)
    model.default_plan = Plan(tokens=words("Le déploiement est bloqué."))
    job = run(ctx, press(slack, "translate_message", ts, user="U7"))
    assert [(m["text"], m["thread_ts"]) for m in slack.bot_messages("C1", root)] == [("Le déploiement est bloqué.", root)]
    [request] = model.requests
    assert "fr-FR" in request.body["messages"][0]["content"]
    assert request.body["messages"][1] == {"role": "user", "content": "The deploy is blocked by a failing test."}
    assert slack.count("users.info") == 1
    run(ctx, job, delivery=1)  # redelivered: already translated
    assert len(model.requests) == 1 and len(slack.bot_messages("C1", root)) == 1


def test_translate_prefers_the_channel_profile_language(slack, model):
    ctx = make_context(slack, model, CHANNEL_PROFILES=json.dumps({"C8": {"translate_to": "Japanese", "model": "translator"}}))
    ts = slack.add_message("C8", "Good morning, team!", user="U2")
    run(ctx, press(slack, "translate_message", ts))
    assert slack.bot_messages("C8", ts)[0]["thread_ts"] == ts  # a top-level message: its own thread
    body = model.requests[0].body
    assert "into Japanese" in body["messages"][0]["content"] and body["model"] == "translator"
    assert slack.count("users.info") == 0


def test_translate_refuses_a_message_without_text(slack, model):
    ctx = make_context(slack, model)
    ts = slack.add_message("C1", "   ", user="U2")
    run(ctx, press(slack, "translate_message", ts))
    assert said_to(slack, "U1") == [NO_TEXT] and model.requests == [] and writes(slack) == []


# -- add_to_knowledge / list_knowledge ------------------------------------------------------------
PROFILES = json.dumps({"C1": {"file_search": {"vector_store_ids": ["vs_team_handbook"], "editors": ["U1"]}}})


def knowledge_ctx(slack, model):
    return make_context(slack, model, OPENAI_API="responses", CHANNEL_PROFILES=PROFILES)


def test_an_editor_adds_a_messages_files_to_the_channels_store_created_once(slack, model):
    ctx = knowledge_ctx(slack, model)
    ts = slack.add_file("C1", "handbook.pdf", pdf("Deploys happen on Tuesdays"), mimetype="application/pdf", filetype="pdf")
    run(ctx, press(slack, "add_to_knowledge", ts))
    assert said_to(slack, "U1") == ["Added to this channel's knowledge: `handbook.pdf`."]
    [(store_id, store)] = model.vector_stores.items()
    assert store["object"]["metadata"] == {"slack_team": "T1", "slack_channel": "C1"}
    [added] = store["files"]
    assert added["attributes"]["filename"] == "handbook.pdf" and added["attributes"]["added_by"] == "U1"
    assert model.files[added["id"]]["object"]["purpose"] == "assistants"
    assert model.files[added["id"]]["content"].startswith(b"%PDF")
    zipped = slack.add_file("C1", "archive.zip", b"PK\x03\x04", mimetype="application/zip", filetype="zip")
    notes = slack.add_file("C1", "oncall.md", b"# On call", mimetype="text/markdown", filetype="markdown")
    run(ctx, press(slack, "add_to_knowledge", zipped))
    run(ctx, press(slack, "add_to_knowledge", notes))
    assert said_to(slack, "U1")[1:] == [
        "Nothing was added.\nSkipped `archive.zip`: unsupported file type.",
        "Added to this channel's knowledge: `oncall.md`.",
    ]
    assert list(model.vector_stores) == [store_id] and len(store["files"]) == 2  # the id was kept


def test_add_to_knowledge_refuses_a_non_editor_and_reads_nothing(slack, model):
    from teambot.answer.knowledge import NO_FILES, NOT_EDITOR

    ctx = knowledge_ctx(slack, model)
    ts = slack.add_file("C1", "secret.txt", b"plans", mimetype="text/plain", filetype="text")
    run(ctx, press(slack, "add_to_knowledge", ts, user="U2"))
    assert said_to(slack, "U2") == [NOT_EDITOR]
    model._files_state()
    assert slack.downloads == [] and model.files_calls == []
    run(ctx, press(slack, "add_to_knowledge", slack.add_message("C1", "no files here")))
    assert said_to(slack, "U1") == [NO_FILES] and model.files_calls == []


def test_list_knowledge_lists_the_channels_files_newest_first_and_the_other_stores(slack, model):
    ctx = knowledge_ctx(slack, model)
    empty = slack.add_message("C1", "what do we know?", user="U3")
    run(ctx, press(slack, "list_knowledge", empty, user="U3"))
    model._files_state()
    assert said_to(slack, "U3")[0].startswith("This channel's knowledge is empty.") and model.vector_stores == {}
    for name in ("handbook.md", "oncall.md"):
        run(
            ctx,
            press(slack, "add_to_knowledge", slack.add_file("C1", name, b"# x", mimetype="text/markdown", filetype="markdown")),
        )
    run(ctx, press(slack, "list_knowledge", empty, user="U3"))
    listing = said_to(slack, "U3")[1]
    assert listing.splitlines() == [
        "In this channel's knowledge (2 files):",
        "• `oncall.md` (added by <@U1>)",
        "• `handbook.md` (added by <@U1>)",
        "Also searched: `vs_team_handbook`",
    ]


def test_knowledge_shortcuts_in_a_channel_without_file_search_say_so_and_ask_nothing_of_openai(slack, model):
    ctx = knowledge_ctx(slack, model)
    ts = slack.add_file("C7", "a.txt", b"a", mimetype="text/plain", filetype="text")
    run(ctx, press(slack, "add_to_knowledge", ts))
    run(ctx, press(slack, "list_knowledge", ts, user="U4"))
    assert "no knowledge set up" in said_to(slack, "U1")[0] and "no knowledge set up" in said_to(slack, "U4")[0]
    model._files_state()
    assert model.files_calls == [] and slack.downloads == []
