"""The fakes of this capability, driven by the real SDKs in-process: the openai SDK parses the
fake's files, vector stores, container files and the Responses stream's file_search_call /
code_interpreter_call items and file_citation / container_file_citation annotations; slack_sdk's
own files_upload_v2 completes against the fake's external upload flow."""

import openai
import pytest
from slack_sdk import WebClient

from tests.fakes.openai_api import Plan
from tests.fakes.openai_files_api import code_interpreter_call, container_file_citation, file_citation, file_search_call


def test_files_and_vector_stores_parse_with_the_real_sdk(model):
    client = openai.OpenAI(api_key="sk-test", base_url=model.url + "/v1", max_retries=0)
    uploaded = client.files.create(file=("notes.md", b"# Notes\nhello"), purpose="assistants")
    assert uploaded.filename == "notes.md" and uploaded.bytes == 13 and uploaded.purpose == "assistants"
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    store = client.vector_stores.create(name="Slack channel C1", metadata={"slack_channel": "C1"})
    assert store.status == "completed" and store.file_counts.total == 0
    attached = client.vector_stores.files.create(store.id, file_id=uploaded.id, attributes={"filename": "notes.md"})
    assert attached.vector_store_id == store.id and attached.status == "completed"
    listed = client.vector_stores.files.list(store.id, limit=10)
    assert [f.attributes["filename"] for f in listed.data] == ["notes.md"]
    assert client.vector_stores.retrieve(store.id).file_counts.completed == 1
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.create(store.id, file_id="file-nope")
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.retrieve("vs_nope")
    produced = model.add_container_file("cntr_1", "/mnt/data/out.csv", b"x,y\n")
    assert client.containers.files.content.retrieve(produced, container_id="cntr_1").read() == b"x,y\n"
    assert client.containers.files.retrieve(produced, container_id="cntr_1").path == "/mnt/data/out.csv"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="sk-wrong", base_url=model.url + "/v1", max_retries=0).files.retrieve(uploaded.id)


def test_responses_items_and_annotations_parse_with_the_real_sdk(model):
    model.default_plan = Plan(
        tokens=["See the chart."],
        items=[
            file_search_call(["q1 revenue"], results=[{"file_id": "file-1", "filename": "q1.pdf", "score": 0.9}]),
            code_interpreter_call("print(1)", "cntr_1"),
        ],
        citations=[file_citation("file-1", "q1.pdf", 3), container_file_citation("cntr_1", "cfile_1", "chart.png", 4, 9)],
    )
    client = openai.OpenAI(api_key="sk-test", base_url=model.url + "/v1", max_retries=0)
    with client.responses.stream(
        model="m",
        input="q?",
        tools=[
            {"type": "file_search", "vector_store_ids": ["vs_1"]},
            {"type": "code_interpreter", "container": {"type": "auto", "file_ids": []}},
        ],
    ) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert "response.file_search_call.searching" in kinds and "response.code_interpreter_call.interpreting" in kinds
    assert [type(i).__name__ for i in final.output] == [
        "ResponseFileSearchToolCall",
        "ResponseCodeInterpreterToolCall",
        "ParsedResponseOutputMessage",
    ]
    assert final.output[0].queries == ["q1 revenue"] and final.output[1].container_id == "cntr_1"
    notes = final.output[-1].content[0].annotations
    assert [type(a).__name__ for a in notes] == ["AnnotationFileCitation", "AnnotationContainerFileCitation"]
    assert notes[1].filename == "chart.png" and notes[0].filename == "q1.pdf"


def test_slack_sdks_own_upload_v2_completes_against_the_fake(slack):
    client = WebClient(token="xoxb-test", base_url=slack.url + "/api/")
    root = slack.add_message("C1", "root")
    response = client.files_upload_v2(channel="C1", thread_ts=root, filename="a.txt", content=b"hello", title="A")
    assert response["ok"] and response["file"]["title"] == "A"
    assert slack.uploaded[-1]["content"] == b"hello" and slack.uploaded[-1]["thread_ts"] == root
    assert client.files_getUploadURLExternal(filename="b.txt", length=3)["upload_url"]
    with pytest.raises(Exception, match="file_not_found"):  # never uploaded to its URL
        client.files_completeUploadExternal(files=[{"id": "F90002"}], channel_id="C1")
    with pytest.raises(Exception, match="missing_argument"):
        client.files_getUploadURLExternal(filename="c.txt", length=0)
