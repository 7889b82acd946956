"""Message shortcut "Add to knowledge" (`add_to_knowledge`): the files of that message go into the
channel's vector store (knowledge.py; created on first use), for the users the channel profile's
`file_search.editors` names. Everyone else gets a clear ephemeral refusal and nothing is read.
The result (what was added, what was skipped and why) is an ephemeral to the user."""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.core.jobs import Job
from teambot.core.registry import message_shortcut

if TYPE_CHECKING:
    from teambot.answer.services import Context


def message_files(ctx: "Context", job: Job) -> list[dict]:
    """The full file objects of the shortcut's message (conversations.replies carries them)."""
    replies = ctx.slack.thread(job.channel, job.reply_thread_ts, team=job.team)
    message = next((m for m in replies if m.get("ts") == job.message_ts), {})
    return [f for f in message.get("files") or [] if isinstance(f, dict)]


@message_shortcut("add_to_knowledge")
def add_to_knowledge(ctx: "Context", job: Job) -> None:
    from teambot.answer.knowledge import NO_FILES, add_files, refusal
    from teambot.core import logs
    from teambot.core.errors import ModelError

    tell = lambda text: ctx.slack.tell(job.channel, job.user, text, job.thread_ts, team=job.team)  # noqa: E731
    if why := refusal(ctx, job, editing=True):
        return tell(why)
    files = message_files(ctx, job)
    if not files:
        return tell(NO_FILES)
    try:
        added, notes = add_files(ctx, job, files)
    except ModelError as failure:
        return tell(f":warning: {failure.user_message}")
    except Exception as exc:  # OpenAI or the store unreachable: say so, never a silent nothing
        logs.failed("knowledge_failed", exc, channel=job.channel)
        return tell(":warning: I couldn't add the files to this channel's knowledge right now. Please try again.")
    logs.info("knowledge", outcome="added", channel=job.channel, user=job.user, added=len(added), skipped=len(notes))
    lines = [f"Added to this channel's knowledge: {', '.join(added)}."] if added else ["Nothing was added."]
    tell("\n".join(lines + notes))
