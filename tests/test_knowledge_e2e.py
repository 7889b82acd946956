"""The team's documents, end to end over loopback: the real function, the real openai SDK and
slack_sdk against the fakes. "Add to knowledge" puts a message's files into the channel's vector
store (created on first use, its id kept), through the conversation files' caps and safe
download; a non-editor is refused; "List knowledge" lists them; profiles are validated."""

import json

import pytest

from teambot.channel_profiles import FileSearch, ProfileError, parse_profiles
from teambot.env import Settings
from teambot.jobs import Job
from teambot.knowledge import (
    NOT_EDITOR,
    MemoryKnowledgeStore,
    citation_line,
    file_search_tools,
    knowledge_doc_id,
)
from tests.harness import shortcut, wait_for
from tests.sample_files import pdf

PROFILES = {"C1": {"file_search": {"vector_store_ids": ["vs_team_handbook"], "editors": ["U1"]}}}


def ephemerals_for(slack, user, count=1):
    return wait_for(lambda: [e for e in slack.ephemerals if e["user"] == user][:count]
                    if len([e for e in slack.ephemerals if e["user"] == user]) >= count else None, timeout=15)


def test_profiles_validate_file_search_and_code_interpreter():
    profiles = parse_profiles(json.dumps({**PROFILES, "C2": {"code_interpreter": True}}))
    assert profiles["C1"].file_search == FileSearch(("vs_team_handbook",), ("U1",))
    assert profiles["C2"].code_interpreter and profiles["C2"].file_search is None
    for bad, named in [({"file_search": {"vector_store_ids": "vs_1"}}, "vector_store_ids"),
                       ({"file_search": {"editors": ["someone"]}}, "editors"),
                       ({"file_search": {"stores": []}}, "'stores'"),
                       ({"file_search": True}, "'file_search'"),
                       ({"code_interpreter": "yes"}, "'code_interpreter'")]:
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
    monkeypatch.setattr("teambot.knowledge.knowledge_store", lambda s: store)
    job = Job(kind="answer", team="T1", channel="C1", user="U2", message_ts="1.0")
    assert file_search_tools(settings, settings.profile("C1"), job) == [
        {"type": "file_search", "vector_store_ids": ["vs_team_handbook"]}]
    store.put("T1", "C1", "vs_0007")
    assert file_search_tools(settings, settings.profile("C1"), job) == [
        {"type": "file_search", "vector_store_ids": ["vs_team_handbook", "vs_0007"]}]
    assert file_search_tools(settings, settings.profile("C5"), job) == []  # no file_search: no tool
    assert knowledge_doc_id("T1", "C1") == "k_T1_C1"


def test_citation_line_names_each_cited_file_once():
    annotations = [{"type": "file_citation", "file_id": "file-1", "filename": "handbook.pdf", "index": 10},
                   {"type": "url_citation", "url": "https://x.test", "title": "x", "start_index": 0, "end_index": 1},
                   {"type": "file_citation", "file_id": "file-2", "filename": "oncall.md", "index": 20},
                   {"type": "file_citation", "file_id": "file-1", "filename": "handbook.pdf", "index": 30}]
    assert citation_line(annotations) == "From: `handbook.pdf`, `oncall.md`"
    assert citation_line([]) == ""


def test_add_to_knowledge_creates_the_store_once_and_adds_the_files(start_bot, slack, model):
    bot = start_bot(CHANNEL_PROFILES=json.dumps(PROFILES), MAX_FILE_BYTES="100000")
    ts = slack.add_file("C1", "handbook.pdf", pdf("Deploys happen on Tuesdays"), mimetype="application/pdf",
                        filetype="pdf", text="our handbook")
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
    (store_id, store), = model.vector_stores.items()
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
    bot = start_bot(CHANNEL_PROFILES=json.dumps(PROFILES))
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
    bot = start_bot(CHANNEL_PROFILES=json.dumps(PROFILES))
    ts = slack.add_message("C1", "what do we know?", user="U2")
    bot.post_form(shortcut("list_knowledge", dict(slack.messages[ts]), user="U2"))
    assert "knowledge is empty" in ephemerals_for(slack, "U2")[0]["text"]
    model._files_state()
    assert model.vector_stores == {}  # listing never creates the store
