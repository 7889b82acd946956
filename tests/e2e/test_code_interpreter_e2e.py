"""Data analysis, end to end over loopback (the real function, openai SDK and slack_sdk against the
fakes): a channel whose profile has `code_interpreter: true` gives the thread's CSV / XLSX / JSON
files to the code interpreter's container, and the files it produces come back into the thread
through Slack's external upload flow, each a step."""

import json

from teambot.answer.code_files import code_interpreter_tools, deliver_outputs, is_data_file, produced_files
from teambot.core.jobs import Job
from teambot.core.settings import Settings
from teambot.core.steps import COMPLETE, ERROR, IN_PROGRESS
from tests.fakes.openai_api import Plan, words
from tests.fakes.openai_files_api import code_interpreter_call, container_file_citation
from tests.harness import mention, wait_for
from tests.sample_files import png

PROFILES = {"C2": {"code_interpreter": True}}
CSV = b"month,revenue\n2026-01,10\n2026-02,12\n2026-03,15\n"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def answer_done(slack, channel, thread_ts):
    """The bot's answer message (the one with answer metadata) once it is final."""

    def done():
        for m in slack.bot_messages(channel, thread_ts):
            state = ((m.get("metadata") or {}).get("event_payload") or {}).get("state")
            if state not in (None, "streaming", "continued") and not m.get("streaming"):
                return m
        return None

    return done


def test_data_files_and_tool_shape():
    assert is_data_file({"mimetype": "text/csv"}) and is_data_file({"filetype": "xlsx"})
    assert is_data_file({"mimetype": XLSX}) and is_data_file({"mimetype": "application/json"})
    assert not is_data_file({"mimetype": "image/png", "filetype": "png"}) and not is_data_file({"filetype": "pdf"})
    settings = Settings.from_env({"CHANNEL_PROFILES": json.dumps(PROFILES)})
    job = Job(kind="answer", team="T1", channel="C2", user="U1", message_ts="1.0", extra={"container_file_ids": ["file-1"]})
    assert code_interpreter_tools(settings, settings.profile("C2"), job) == [
        {"type": "code_interpreter", "container": {"type": "auto", "file_ids": ["file-1"]}}
    ]
    assert code_interpreter_tools(settings, settings.profile("C3"), job) == []
    cites = [
        container_file_citation("cntr_1", "cfile_1", "/mnt/data/chart.png"),
        {"type": "file_citation", "file_id": "f"},
        container_file_citation("cntr_1", "cfile_1", "chart.png"),
    ]
    assert produced_files(cites) == [{"container_id": "cntr_1", "file_id": "cfile_1", "filename": "chart.png"}]


def test_thread_data_goes_into_the_container_and_the_chart_comes_back_to_the_thread(start_bot, slack, model):
    bot = start_bot(OPENAI_API="responses", CHANNEL_PROFILES=json.dumps(PROFILES))
    root = slack.add_file("C2", "revenue.csv", CSV, mimetype="text/csv", filetype="csv", text="Q1 numbers")
    slack.add_file("C2", "photo.png", png(), mimetype="image/png", filetype="png", thread_ts=root)  # not data: stays out
    chart = png()
    produced = model.add_container_file("cntr_9", "/mnt/data/revenue_chart.png", chart)
    model.default_plan = Plan(
        tokens=words("Revenue grew every month; chart attached."),
        items=[code_interpreter_call("import pandas as pd\n...", "cntr_9", id="ci_4")],
        citations=[container_file_citation("cntr_9", produced, "revenue_chart.png", 0, 5)],
    )
    question = slack.add_message("C2", "<@UBOT> plot the revenue", user="U2", thread_ts=root)
    assert bot.post_json(mention("<@UBOT> plot the revenue", question, channel="C2", user="U2", thread_ts=root)).status == 200
    answer = wait_for(answer_done(slack, "C2", root), timeout=20)
    assert answer["text"].startswith("Revenue grew every month; chart attached.")
    assert "photo.png" not in answer["text"]  # read as an image by the conversation, no "skipped" note

    request = [r for r in model.requests if "input" in r.body][-1]
    (tool,) = request.body["tools"]
    assert tool["type"] == "code_interpreter" and tool["container"]["type"] == "auto"
    (file_id,) = tool["container"]["file_ids"]  # the CSV only, not the photo
    assert model.files[file_id]["content"] == CSV and model.files[file_id]["object"]["purpose"] == "user_data"
    assert model.files[file_id]["object"]["filename"] == "revenue.csv"
    created = model.files[file_id]["object"]
    assert created["expires_at"] - created["created_at"] == 86_400  # the copy expires: no pile-up in OpenAI

    # the produced file, uploaded with the external flow into the same thread
    (uploaded,) = slack.uploaded
    assert uploaded["name"] == "revenue_chart.png" and uploaded["content"] == chart
    assert uploaded["channel"] == "C2" and uploaded["thread_ts"] == root
    methods = [c["method"] for c in slack.calls]
    assert methods.index("files.getUploadURLExternal") < methods.index("files.completeUploadExternal")
    shared = [m for m in slack.bot_messages("C2", root) if m.get("files")]
    assert [f["name"] for m in shared for f in m["files"]] == ["revenue_chart.png"]
    assert ("GET", f"/containers/cntr_9/files/{produced}/content") in model.files_calls
    record = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "answer"])[0]
    assert record["outcome"] == "done"
    assert "revenue" not in bot.logs().lower()  # no file names or content in the logs


def test_without_the_profile_no_container_and_no_upload(start_bot, slack, model):
    bot = start_bot(OPENAI_API="responses", CHANNEL_PROFILES=json.dumps(PROFILES))
    root = slack.add_file("C3", "revenue.csv", CSV, mimetype="text/csv", filetype="csv", text="<@UBOT> sum it")
    model.default_plan = Plan(tokens=words("The total is 37."))
    assert bot.post_json(mention("<@UBOT> sum it", root, channel="C3")).status == 200
    wait_for(answer_done(slack, "C3", root))
    assert "tools" not in model.requests[-1].body
    model._files_state()
    slack._pending_uploads()
    assert model.files == {} and slack.uploaded == []


class RecordingReply:
    def __init__(self, message_ts=()):
        self.steps = []
        self.message_ts = list(message_ts)

    def step(self, step):
        self.steps.append(step)


def test_deliver_outputs_one_step_per_file_and_a_missing_file_is_an_error_step(slack, model):
    from teambot.answer.services import Context, Services
    from teambot.gcp.secret_store import SecretStore
    from teambot.slack.client import SlackOps

    settings = Settings.from_env(
        {"SLACK_API_URL": slack.url + "/api/", "OPENAI_BASE_URL": model.url + "/v1", "OPENAI_API": "responses"}
    )
    secrets = SecretStore({"SLACK_BOT_TOKEN": "xoxb-test", "OPENAI_API_KEY": "sk-test"})
    ctx = Context(Services(settings=settings, secrets=secrets, slack=SlackOps(settings, secrets)))
    table = model.add_container_file("cntr_2", "/mnt/data/summary.csv", b"a,b\n1,2\n")
    root = slack.add_message("C5", "analyse")
    job = Job(kind="answer", team="T1", channel="C5", user="U1", message_ts=root)
    reply = RecordingReply()
    delivered = deliver_outputs(
        ctx,
        job,
        reply,
        [container_file_citation("cntr_2", "cfile_gone", "lost.png"), container_file_citation("cntr_2", table, "summary.csv")],
    )
    assert delivered == ["summary.csv"]
    assert [(s.id, s.status, s.details) for s in reply.steps] == [
        ("output-cfile_gone", IN_PROGRESS, "lost.png"),
        ("output-cfile_gone", ERROR, "lost.png"),
        (f"output-{table}", IN_PROGRESS, "summary.csv"),
        (f"output-{table}", COMPLETE, "summary.csv"),
    ]
    assert [u["name"] for u in slack.uploaded] == ["summary.csv"] and slack.uploaded[0]["content"] == b"a,b\n1,2\n"
    assert slack.uploaded[0]["thread_ts"] == root


def test_an_answer_stopped_through_slack_delivers_no_file(slack, model):
    from teambot.answer.services import Context, Services
    from teambot.gcp.secret_store import SecretStore
    from teambot.slack.client import SlackOps
    from teambot.slack.marks import STOPPED, answer_metadata

    settings = Settings.from_env({"SLACK_API_URL": slack.url + "/api/", "OPENAI_BASE_URL": model.url + "/v1"})
    secrets = SecretStore({"SLACK_BOT_TOKEN": "xoxb-test", "OPENAI_API_KEY": "sk-test"})
    ctx = Context(Services(settings=settings, secrets=secrets, slack=SlackOps(settings, secrets)))
    produced = model.add_container_file("cntr_3", "/mnt/data/chart.png", png())
    root = slack.add_message("C5", "chart it")
    job = Job(kind="answer", team="T1", channel="C5", user="U1", message_ts=root)
    cites = [container_file_citation("cntr_3", produced, "chart.png")]
    # native: the stop ended the stream and marked the message stopped (chat.stopStream metadata)
    stopped = slack.add_message(
        "C5", "partial", user="UBOT", thread_ts=root, bot_id="BBOT", metadata=answer_metadata("", STOPPED)
    )
    assert deliver_outputs(ctx, job, RecordingReply([stopped]), cites) == []
    # update mode: the stop replaced (deleted) the message this answer was writing
    gone = slack.add_message("C5", "partial", user="UBOT", thread_ts=root, bot_id="BBOT", deleted=True)
    assert deliver_outputs(ctx, job, RecordingReply([gone]), cites) == []
    slack._pending_uploads()
    assert slack.uploaded == [] and not any(path.endswith("/content") for _, path in model.files_calls)
    live = slack.add_message(
        "C5", "writing", user="UBOT", thread_ts=root, bot_id="BBOT", metadata=answer_metadata(root, "streaming")
    )
    assert deliver_outputs(ctx, job, RecordingReply([live]), cites) == ["chart.png"]  # a live answer still gets it


def test_an_approved_tool_call_resumes_with_the_same_container_files(start_bot, slack, model):
    """A channel with data analysis and an MCP tool: the answer that resumes after Approve sends the
    same code_interpreter tool (the thread's files in its container) as the first request."""
    from tests.e2e.test_tools_mcp import SERVERS, approval_prompts, click
    from tests.fakes.openai_api import mcp_approval_request

    profiles = {"C2": {"code_interpreter": True, "mcp_servers": SERVERS}}
    bot = start_bot(OPENAI_API="responses", CHANNEL_PROFILES=json.dumps(profiles))
    root = slack.add_file("C2", "revenue.csv", CSV, mimetype="text/csv", filetype="csv", text="Q1 numbers")
    model.plans.append(Plan(tokens=[], items=[mcp_approval_request("find_customer", {"name": "ACME"}, server_label="crm")]))
    question = slack.add_message("C2", "<@UBOT> compare with ACME's orders", user="U1", thread_ts=root)
    assert (
        bot.post_json(mention("<@UBOT> compare with ACME's orders", question, channel="C2", user="U1", thread_ts=root)).status
        == 200
    )
    (prompt,) = wait_for(lambda: approval_prompts(slack, "C2", root), timeout=15)
    model.plans.append(Plan(tokens=words("Both grew.")))
    assert bot.post_form(click(prompt, "mcp_approve")).status == 200
    wait_for(lambda: len(model.requests) >= 2 and model.requests[-1].finished, timeout=15)
    first, resumed = [r.body for r in model.requests if "input" in r.body][-2:]
    assert resumed["previous_response_id"] and resumed["tools"] == first["tools"]
    (interpreter,) = [t for t in resumed["tools"] if t["type"] == "code_interpreter"]
    assert len(interpreter["container"]["file_ids"]) == 1
