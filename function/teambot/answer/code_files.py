"""Data analysis: the hosted `code_interpreter` tool, for a channel whose profile has
`code_interpreter: true`.

  * `container_file_ids(ctx, job, replies)`: the thread's CSV / XLSX / JSON files, through the
    same caps and safe download as conversation files (knowledge.read_slack_files), uploaded to
    OpenAI (purpose `user_data`) so the tool's container gets them: the tool is
    `{"type": "code_interpreter", "container": {"type": "auto", "file_ids": [...]}}`
    (openai/types/responses/tool_param.py CodeInterpreter).
  * `code_interpreter_tools(settings, profile, job)`: that tool (a model_tools provider); the
    file ids travel in `job.extra["container_file_ids"]` (`with_container_files`).
  * `deliver_outputs(ctx, job, reply, annotations)`: every file the tool produced and the answer
    cites (`container_file_citation` annotations: container_id, file_id, filename) is downloaded
    from the container (GET /v1/containers/{id}/files/{file_id}/content) and uploaded into the
    thread with Slack's external upload flow (files.getUploadURLExternal, a POST of the bytes to
    its upload_url, files.completeUploadExternal), each shown as a step (steps.Step).
The upload URL gets no token, and only a Slack file host (file_download.check_url) gets the bytes.
"""

from __future__ import annotations

from dataclasses import replace

from teambot.answer.file_download import DownloadRefused, allowed_hosts, check_url
from teambot.core import logs
from teambot.core.steps import COMPLETE, ERROR, IN_PROGRESS, Step

DATA_FILETYPES = frozenset({"csv", "xlsx", "xls", "json", "tsv"})
DATA_MIMETYPES = frozenset(
    {
        "text/csv",
        "application/csv",
        "application/json",
        "text/tab-separated-values",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel",
    }
)
EXTRA_KEY = "container_file_ids"
# A copy for one answer's container need not outlive the day (Files API expires_after: 1 h to 30 days).
DATA_FILE_TTL_S = 86_400


def is_data_file(file: dict) -> bool:
    mimetype = (file.get("mimetype") or "").lower().split(";")[0].strip()
    return mimetype in DATA_MIMETYPES or (file.get("filetype") or "").lower() in DATA_FILETYPES


def container_file_ids(ctx, job, replies: list[dict]) -> tuple[list[str], list[str]]:
    """(OpenAI file ids, notes) for the data files shared in the thread up to the job's message."""
    from teambot.answer.files import shared_files
    from teambot.answer.knowledge import read_slack_files

    files = [file for _, file in shared_files(replies, job.message_ts, ctx.slack.identity())]
    # Other files (images, PDFs) are the conversation's business (thread_files.py): no note here.
    read, notes = read_slack_files(ctx, job, files, is_data_file, note_unsupported=False)
    client, ids = ctx.model._openai(), []
    for file, data in read:
        name = str(file.get("name") or file.get("title") or "data")[:200]
        try:
            ids.append(
                client.files.create(
                    file=(name, data), purpose="user_data", expires_after={"anchor": "created_at", "seconds": DATA_FILE_TTL_S}
                ).id
            )
        except Exception:
            notes.append(f"`{name}` could not be given to the code interpreter.")
    logs.info("container_files", channel=job.channel, files=len(ids), skipped=len(notes))
    return ids, notes


def with_container_files(ctx, job, replies: list[dict]):
    """The job with the thread's data files' ids in `extra`, when the profile has code_interpreter."""
    if not ctx.settings.profile(job.channel).code_interpreter:
        return job, []
    ids, notes = container_file_ids(ctx, job, replies)
    return replace(job, extra={**job.extra, EXTRA_KEY: ids}), notes


def code_interpreter_tools(settings, profile, job=None, secrets=None) -> list[dict]:
    if not profile.code_interpreter:
        return []
    ids = list((job.extra.get(EXTRA_KEY) if job is not None else None) or [])
    return [{"type": "code_interpreter", "container": {"type": "auto", "file_ids": ids}}]


def upload_to_thread(ctx, job, filename: str, data: bytes) -> str:
    """Slack's external upload flow: the new Slack file id, shared in the job's thread."""
    import requests

    slot = ctx.slack.call("files_getUploadURLExternal", team=job.team, filename=filename, length=len(data))
    check_url(slot["upload_url"], allowed_hosts(ctx.settings.slack_api_url))  # the bytes go to Slack only
    response = requests.post(
        slot["upload_url"],
        data=data,
        timeout=ctx.settings.slack_timeout_s,
        headers={"Content-Type": "application/octet-stream"},
        allow_redirects=False,
    )
    if response.status_code != 200:
        raise DownloadRefused(f"upload failed ({response.status_code})")
    ctx.slack.call(
        "files_completeUploadExternal",
        team=job.team,
        files=[{"id": slot["file_id"], "title": filename}],
        channel_id=job.channel,
        thread_ts=job.reply_thread_ts,
    )
    return slot["file_id"]


def produced_files(annotations: list[dict]) -> list[dict]:
    """The container files the answer cites, each once: {container_id, file_id, filename}."""
    seen, out = set(), []
    for a in annotations:
        if a.get("type") == "container_file_citation" and a.get("file_id") and a.get("container_id"):
            if a["file_id"] not in seen:
                seen.add(a["file_id"])
                out.append(
                    {
                        "container_id": a["container_id"],
                        "file_id": a["file_id"],
                        "filename": str(a.get("filename") or a["file_id"]).rsplit("/", 1)[-1][:200],
                    }
                )
    return out


def stopped_elsewhere(ctx, job, reply) -> bool:
    """Whether the answer was stopped through Slack (a stop that reached another instance, or came
    before this one knew the message): its message is gone (update mode: replaced) or marked
    stopped (native: chat.stopStream). One thread read, only for answers that produced files."""
    from teambot.slack.marks import STOPPED, answer_mark

    written = set(getattr(reply, "message_ts", None) or ())
    if not written:
        return False
    try:
        thread = {m.get("ts"): m for m in ctx.slack.thread(job.channel, job.reply_thread_ts, team=job.team)}
    except Exception:
        return False  # can't tell: deliver (the files answer the question that was asked)
    return any(ts not in thread or (answer_mark(thread[ts]) or {}).get("state") == STOPPED for ts in written)


def deliver_outputs(ctx, job, reply, annotations: list[dict]) -> list[str]:
    """Upload the produced files into the thread, one step each; returns the names delivered."""
    client, delivered = None, []
    files = produced_files(annotations)
    if files and stopped_elsewhere(ctx, job, reply):
        logs.info("output_files_skipped", reason="stopped", channel=job.channel, files=len(files))
        return []
    for file in files:
        step_id, name = f"output-{file['file_id']}", file["filename"]
        reply.step(Step(step_id, "Sharing a file", IN_PROGRESS, details=name))
        try:
            client = client or ctx.model._openai()
            content = client.containers.files.content.retrieve(file["file_id"], container_id=file["container_id"])
            data = content.read()
            if len(data) > ctx.settings.max_file_bytes:
                raise DownloadRefused("too large")
            upload_to_thread(ctx, job, name, data)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, DownloadRefused) else "it couldn't be uploaded"
            logs.warning("output_file_failed", error=type(exc).__name__, channel=job.channel)
            reply.step(Step(step_id, "Sharing a file", ERROR, details=name, output=reason))
            continue
        delivered.append(name)
        reply.step(Step(step_id, "Sharing a file", COMPLETE, details=name, output="uploaded to the thread"))
    return delivered


# -- wiring into the Responses API path (model_tools.py provider, responses_stream.py hook) ------
def _register() -> None:
    from teambot.answer.responses_stream import on_item
    from teambot.answer.tools import tool_provider

    tool_provider(code_interpreter_tools)

    @on_item("code_interpreter_call")
    def _code_step(parser, item: dict, done: bool):
        step_id, title = item.get("id") or "code_interpreter", "Analysing the data"
        if not done:
            return (Step(step_id, title, IN_PROGRESS),)
        parser.count_tool_call("code_interpreter")
        if item.get("status") in ("failed", "incomplete"):
            return (Step(step_id, title, ERROR, output="failed"),)
        return (Step(step_id, title, COMPLETE, output="done"),)


_register()
