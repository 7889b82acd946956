"""The team's documents, end to end over loopback: the real function, the real openai SDK and
slack_sdk against the fakes. "Add to knowledge" puts a message's files into the channel's vector
store (created on first use, its id kept), through the conversation files' caps and safe
download; a non-editor is refused; "List knowledge" lists them; profiles are validated."""

import json
import uuid

import pytest

from teambot.answer.knowledge import (
    NOT_EDITOR,
    MemoryKnowledgeStore,
    citation_line,
    file_search_tools,
    knowledge_doc_id,
)
from teambot.core.jobs import Job
from teambot.core.profiles import FileSearch, ProfileError, parse_profiles
from teambot.core.settings import Settings
from tests.harness import shortcut, wait_for
from tests.sample_files import pdf

PROFILES = {"C1": {"file_search": {"vector_store_ids": ["vs_team_handbook"], "editors": ["U1"]}}}


def ephemerals_for(slack, user, count=1):
    return wait_for(
        lambda: (
            [e for e in slack.ephemerals if e["user"] == user][:count]
            if len([e for e in slack.ephemerals if e["user"] == user]) >= count
            else None
        ),
        timeout=15,
    )


def test_profiles_validate_file_search_and_code_interpreter():
    profiles = parse_profiles(json.dumps({**PROFILES, "C2": {"code_interpreter": True}}))
    assert profiles["C1"].file_search == FileSearch(("vs_team_handbook",), ("U1",))
    assert profiles["C2"].code_interpreter and profiles["C2"].file_search is None
    for bad, named in [
        ({"file_search": {"vector_store_ids": "vs_1"}}, "vector_store_ids"),
        ({"file_search": {"editors": ["someone"]}}, "editors"),
        ({"file_search": {"stores": []}}, "'stores'"),
        ({"file_search": True}, "'file_search'"),
        ({"code_interpreter": "yes"}, "'code_interpreter'"),
    ]:
        with pytest.raises(ProfileError, match=named):
            parse_profiles(json.dumps({"C9": bad}))
        with pytest.raises(ValueError):  # the function refuses to start on it
            Settings.from_env({"CHANNEL_PROFILES": json.dumps({"C9": bad})})


def test_a_bad_file_search_profile_fails_at_preview():
    from tests.pulumi_stack import run_stack

    with pytest.raises(Exception) as failure:
        run_stack({"channelProfiles": json.dumps({"C0ABC": {"file_search": {"editors": "U1"}}})})
    assert "channelProfiles" in str(failure.value) and "'file_search'" in str(failure.value)


def test_file_search_tool_names_the_profiles_stores_and_the_channels_own(monkeypatch):
    settings = Settings.from_env({"CHANNEL_PROFILES": json.dumps(PROFILES)})
    store = MemoryKnowledgeStore()
    monkeypatch.setattr("teambot.answer.knowledge.knowledge_store", lambda s: store)
    job = Job(kind="answer", team="T1", channel="C1", user="U2", message_ts="1.0")
    assert file_search_tools(settings, settings.profile("C1"), job) == [
        {"type": "file_search", "vector_store_ids": ["vs_team_handbook"]}
    ]
    store.put("T1", "C1", "vs_0007")
    assert file_search_tools(settings, settings.profile("C1"), job) == [
        {"type": "file_search", "vector_store_ids": ["vs_team_handbook", "vs_0007"]}
    ]
    assert file_search_tools(settings, settings.profile("C5"), job) == []  # no file_search: no tool
    assert knowledge_doc_id("T1", "C1") == "k_T1_C1"


def test_citation_line_names_each_cited_file_once():
    annotations = [
        {"type": "file_citation", "file_id": "file-1", "filename": "handbook.pdf", "index": 10},
        {"type": "url_citation", "url": "https://x.test", "title": "x", "start_index": 0, "end_index": 1},
        {"type": "file_citation", "file_id": "file-2", "filename": "oncall.md", "index": 20},
        {"type": "file_citation", "file_id": "file-1", "filename": "handbook.pdf", "index": 30},
    ]
    assert citation_line(annotations) == "From: `handbook.pdf`, `oncall.md`"
    assert citation_line([]) == ""


def test_add_to_knowledge_creates_the_store_once_and_adds_the_files(start_bot, slack, model):
    bot = start_bot(OPENAI_API="responses", CHANNEL_PROFILES=json.dumps(PROFILES), MAX_FILE_BYTES="100000")
    ts = slack.add_file(
        "C1", "handbook.pdf", pdf("Deploys happen on Tuesdays"), mimetype="application/pdf", filetype="pdf", text="our handbook"
    )
    big = slack.add_file("C1", "dump.txt", b"x" * 200_000, mimetype="text/plain", filetype="text")
    zipped = slack.add_file("C1", "archive.zip", b"PK\x03\x04", mimetype="application/zip", filetype="zip")
    for message_ts in (ts, big, zipped):
        assert bot.post_form(shortcut("add_to_knowledge", dict(slack.messages[message_ts]), user="U1")).status == 200
    said = [e["text"] for e in ephemerals_for(slack, "U1", 3)]
    assert any("Added to this channel's knowledge: `handbook.pdf`" in t for t in said), said
    assert any("Skipped `dump.txt`: too large" in t for t in said), said
    assert any("Skipped `archive.zip`: unsupported file type" in t for t in said), said
    # one store, created on first use, holding the one file; the other two were never downloaded
    assert len(model.vector_stores) == 1
    ((store_id, store),) = model.vector_stores.items()
    assert store["object"]["metadata"] == {"slack_team": "T1", "slack_channel": "C1"}
    assert [f["attributes"]["filename"] for f in store["files"]] == ["handbook.pdf"]
    assert store["files"][0]["attributes"]["added_by"] == "U1"
    uploaded = model.files[store["files"][0]["id"]]
    assert uploaded["object"]["purpose"] == "assistants" and uploaded["content"].startswith(b"%PDF")
    downloaded = {d["file"] for d in slack.downloads}
    assert slack.messages[ts]["files"][0]["id"] in downloaded
    assert not downloaded & {slack.messages[big]["files"][0]["id"], slack.messages[zipped]["files"][0]["id"]}

    # a second add reuses the store (its id was kept)
    again = slack.add_file("C1", "oncall.md", b"# On call\nPage the lead.", mimetype="text/markdown", filetype="markdown")
    bot.post_form(shortcut("add_to_knowledge", dict(slack.messages[again]), user="U1"))
    ephemerals_for(slack, "U1", 4)
    assert len(model.vector_stores) == 1 and len(store["files"]) == 2

    # listing
    bot.post_form(shortcut("list_knowledge", dict(slack.messages[again]), user="U3"))
    listing = ephemerals_for(slack, "U3")[0]["text"]
    assert "`oncall.md` (added by <@U1>)" in listing and "`handbook.pdf`" in listing
    assert listing.index("oncall.md") < listing.index("handbook.pdf")  # newest first
    assert "vs_team_handbook" in listing
    assert "Tuesdays" not in bot.logs() and "handbook" not in bot.logs()  # no names or content in logs


def test_a_non_editor_is_refused_and_nothing_is_read(start_bot, slack, model):
    bot = start_bot(OPENAI_API="responses", CHANNEL_PROFILES=json.dumps(PROFILES))
    ts = slack.add_file("C1", "secret.txt", b"plans", mimetype="text/plain", filetype="text")
    bot.post_form(shortcut("add_to_knowledge", dict(slack.messages[ts]), user="U2"))
    assert ephemerals_for(slack, "U2")[0]["text"] == NOT_EDITOR
    slack._files_state()
    model._files_state()
    assert slack.downloads == [] and model.vector_stores == {} and model.files == {}


def test_a_channel_without_file_search_says_so(bot, slack, model):
    ts = slack.add_file("C7", "a.txt", b"a", mimetype="text/plain", filetype="text")
    bot.post_form(shortcut("add_to_knowledge", dict(slack.messages[ts]), user="U1"))
    assert "no knowledge set up" in ephemerals_for(slack, "U1")[0]["text"]
    bot.post_form(shortcut("list_knowledge", dict(slack.messages[ts]), user="U4"))
    assert "no knowledge set up" in ephemerals_for(slack, "U4")[0]["text"]
    model._files_state()
    assert model.files_calls == []  # nothing asked of OpenAI


def test_an_empty_knowledge_lists_as_empty(start_bot, slack, model):
    bot = start_bot(OPENAI_API="responses", CHANNEL_PROFILES=json.dumps(PROFILES))
    ts = slack.add_message("C1", "what do we know?", user="U2")
    bot.post_form(shortcut("list_knowledge", dict(slack.messages[ts]), user="U2"))
    assert "knowledge is empty" in ephemerals_for(slack, "U2")[0]["text"]
    model._files_state()
    assert model.vector_stores == {}  # listing never creates the store


# -- answering from the documents (Responses API) ----------------------------------------------
def test_a_file_search_answer_passes_the_stores_and_names_the_cited_files(start_bot, slack, model):
    from tests.e2e.test_answer_e2e import finished
    from tests.fakes.openai_api import Plan, words
    from tests.fakes.openai_files_api import file_citation, file_search_call
    from tests.harness import mention

    bot = start_bot(OPENAI_API="responses", CHANNEL_PROFILES=json.dumps(PROFILES))
    ts = slack.add_file("C1", "handbook.pdf", pdf("Deploys happen on Tuesdays"), mimetype="application/pdf", filetype="pdf")
    bot.post_form(shortcut("add_to_knowledge", dict(slack.messages[ts]), user="U1"))
    ephemerals_for(slack, "U1")
    (own_store,) = model.vector_stores
    own_file = model.vector_stores[own_store]["files"][0]["id"]
    model.default_plan = Plan(
        tokens=words("Deploys happen on Tuesdays."),
        items=[file_search_call(["deploy day"])],
        citations=[
            file_citation(own_file, "handbook.pdf", 10),
            file_citation("file-x", "oncall.md", 20),
            file_citation(own_file, "handbook.pdf", 25),
        ],
    )
    question = slack.add_message("C1", "<@UBOT> when do we deploy?", user="U2")
    assert bot.post_json(mention("<@UBOT> when do we deploy?", question)).status == 200
    text = wait_for(finished(slack, "C1", question))[-1]["text"]
    assert text.startswith("Deploys happen on Tuesdays.")
    assert text.rstrip().endswith("_From: `handbook.pdf`, `oncall.md`_") and text.count("handbook.pdf") == 1
    request = [r for r in model.requests if "input" in r.body][-1]
    assert request.body["tools"] == [{"type": "file_search", "vector_store_ids": ["vs_team_handbook", own_store]}]
    record = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "answer"])[0]
    assert record["outcome"] == "done" and "handbook" not in bot.logs()


def test_file_search_steps_through_the_real_sdk(model):
    from teambot.answer.model import ModelOps
    from teambot.core.steps import COMPLETE, IN_PROGRESS, Step
    from teambot.gcp.secret_store import SecretStore
    from tests.fakes.openai_api import Plan
    from tests.fakes.openai_files_api import file_citation, file_search_call

    settings = Settings.from_env(
        {"OPENAI_BASE_URL": model.url + "/v1", "OPENAI_API": "responses", "CHANNEL_PROFILES": json.dumps(PROFILES)}
    )
    ops = ModelOps(settings, SecretStore({"OPENAI_API_KEY": "sk-test"}))
    model.default_plan = Plan(
        tokens=["It is Tuesday."],
        citations=[file_citation("file-1", "handbook.pdf")],
        items=[file_search_call(["deploy day", "release"], results=[{"file_id": "file-1"}], id="fs_3")],
    )
    job = Job(kind="answer", team="T9", channel="C1", user="U1", message_ts="1.1")
    stream = ops.stream([{"role": "user", "content": "when?"}], job=job)
    items = list(stream)
    steps = [i for i in items if isinstance(i, Step)]
    assert [(s.id, s.title, s.status, s.details) for s in steps] == [
        ("fs_3", "Searching the channel's documents", IN_PROGRESS, "deploy day; release"),
        ("fs_3", "Searching the channel's documents", COMPLETE, "deploy day; release"),
    ]
    assert steps[-1].output == "1 passages"
    assert "".join(i for i in items if isinstance(i, str)) == "It is Tuesday.\n\n_From: `handbook.pdf`_"
    assert stream.tool_calls == {"file_search": 1}
    assert model.requests[0].body["tools"] == [{"type": "file_search", "vector_store_ids": ["vs_team_handbook"]}]


def test_the_store_id_survives_in_firestore(firestore_emulator, monkeypatch):
    from teambot.answer.knowledge import FirestoreKnowledgeStore

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator)
    project = f"knowledge-{uuid.uuid4().hex[:12]}"  # its own project: a reused emulator keeps earlier runs' documents
    store = FirestoreKnowledgeStore(project=project)
    assert store.get("T1", "C42") is None
    assert store.put_if_absent("T1", "C42", "vs_abc") == "vs_abc"
    other = FirestoreKnowledgeStore(project=project)  # another instance
    assert other.get("T1", "C42") == "vs_abc"
    assert other.put_if_absent("T1", "C42", "vs_late") == "vs_abc"  # a concurrent creation keeps the first
    assert store.get("T1", "C42") == "vs_abc"


def test_two_creations_at_once_keep_one_store_and_drop_the_other(model):
    from types import SimpleNamespace

    from teambot.answer.knowledge import channel_vector_store
    from teambot.core.settings import Settings

    class Racing(MemoryKnowledgeStore):
        def get(self, team, channel):  # both instances looked before either wrote
            return None

    store = Racing()
    store.put("T1", "C8", "vs_first")
    settings = Settings.from_env({"OPENAI_BASE_URL": model.url + "/v1"})
    import openai

    client = openai.OpenAI(api_key="sk-test", base_url=model.url + "/v1", max_retries=0)
    ctx = SimpleNamespace(settings=settings, model=SimpleNamespace(_openai=lambda: client))
    import teambot.answer.knowledge as knowledge

    original = knowledge.knowledge_store
    knowledge.knowledge_store = lambda s: store
    try:
        assert channel_vector_store(ctx, "T1", "C8") == "vs_first"
    finally:
        knowledge.knowledge_store = original
    model._files_state()
    assert model.vector_stores == {}  # ours was created, then deleted
    assert ("DELETE", f"/vector_stores/{next(iter(model.deleted))}") in model.files_calls
