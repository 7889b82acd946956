"""Message shortcut "List knowledge" (`list_knowledge`): an ephemeral list of the files in the
channel's vector store (knowledge.py) and of the other stores its profile searches. Anyone who
may use the bot in the channel may list it (the answers cite these files anyway)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.core.jobs import Job
from teambot.core.registry import message_shortcut

if TYPE_CHECKING:
    from teambot.answer.services import Context

MAX_LISTED = 50
EMPTY = 'This channel\'s knowledge is empty. Editors add files with the "Add to knowledge" shortcut.'


@message_shortcut("list_knowledge")
def list_knowledge(ctx: "Context", job: Job) -> None:
    from teambot.answer.files import display_name
    from teambot.answer.knowledge import channel_vector_store, list_files, refusal
    from teambot.core import logs

    tell = lambda text: ctx.slack.tell(job.channel, job.user, text, job.thread_ts, team=job.team)  # noqa: E731
    if why := refusal(ctx, job, editing=False):
        return tell(why)
    profile = ctx.settings.profile(job.channel)
    try:
        store_id = channel_vector_store(ctx, job.team, job.channel, create=False)
        files = list_files(ctx, store_id, MAX_LISTED + 1) if store_id else []
    except Exception as exc:
        logs.failed("knowledge_failed", exc, channel=job.channel)
        return tell(":warning: I couldn't read this channel's knowledge right now. Please try again.")
    lines = []
    if files:
        lines.append(f"In this channel's knowledge ({len(files[:MAX_LISTED])}{'+' if len(files) > MAX_LISTED else ''} files):")
        for f in files[:MAX_LISTED]:
            who = f" (added by <@{f['added_by']}>)" if f["added_by"] else ""
            state = "" if f["status"] == "completed" else f" [{f['status']}]"
            lines.append(f"• {display_name({'name': f['filename']})}{who}{state}")
    else:
        lines.append(EMPTY)
    if profile.file_search.vector_store_ids:
        lines.append("Also searched: " + ", ".join(f"`{i}`" for i in profile.file_search.vector_store_ids))
    logs.info("knowledge", outcome="listed", channel=job.channel, files=len(files))
    tell("\n".join(lines))
