"""Message shortcut "Summarize thread" (`summarize_thread`): summarize the thread the message
belongs to, in that thread, streamed, stoppable with "Stop generating".

A thread that fits the context budget is summarized in one streamed call. A longer one is cut
into parts that each fit (oldest messages first in each part); every part is summarized by the
model, then the partial summaries are summarized into one streamed answer (map-reduce). Only the
final answer is a Slack message, so "Stop generating" acts on it; the part summaries before it
(a few seconds each) can't be stopped, as nothing is shown yet. At most MAX_PARTS parts: beyond
that the oldest messages are left out, and the answer says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.core.jobs import Job
from teambot.core.registry import message_shortcut

if TYPE_CHECKING:
    from teambot.answer.services import Context

MAX_PARTS = 8
RESERVE_TOKENS = 600  # room for the instructions around each part and the model's own overhead
NOTHING = "There is nothing to summarize in this thread yet."


def transcript_lines(replies: list[dict], bot_user: str, bot_id: str) -> list[str]:
    """One line per message that people see: `<@U…>: text`, the bot's answers as `assistant:`."""
    from teambot.slack.marks import is_notice, is_own

    lines = []
    for message in replies:
        if message.get("subtype") not in (None, "thread_broadcast", "file_share") or is_notice(message):
            continue
        text = (message.get("text") or "").strip()
        files = [f.get("name") or "file" for f in message.get("files") or [] if isinstance(f, dict)]
        if files:
            text = (text + " " if text else "") + f"[shared {len(files)} file(s)]"
        if not text:
            continue
        who = "assistant" if is_own(message, bot_user, bot_id) else f"<@{message.get('user') or 'someone'}>"
        lines.append(f"{who}: {text}")
    return lines


def parts(lines: list[str], budget_tokens: int) -> list[str]:
    """Consecutive lines packed into parts of at most `budget_tokens` (a huge line is cut)."""
    from teambot.slack.text import CHARS_PER_TOKEN, estimate_tokens

    limit_chars = max(budget_tokens, 1) * CHARS_PER_TOKEN
    out, current, size = [], [], 0
    for line in lines:
        line = line if len(line) <= limit_chars else line[: limit_chars - 1] + "…"
        cost = estimate_tokens(line)
        if current and size + cost > budget_tokens:
            out.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += cost
    if current:
        out.append("\n".join(current))
    return out


@message_shortcut("summarize_thread")
def summarize_thread(ctx: "Context", job: Job) -> None:
    from teambot.answer.pipeline import post_notice, stream_answer
    from teambot.answer.takeover import answered_already
    from teambot.core import logs
    from teambot.core.access import NOT_ALLOWED, allowed
    from teambot.core.errors import ModelError
    from teambot.core.prompts import summary_instructions
    from teambot.slack.text import estimate_tokens

    if not allowed(ctx.settings, job):
        ctx.slack.tell(job.channel, job.user, NOT_ALLOWED, job.thread_ts, team=job.team)
        return
    bot_user, bot_id = ctx.slack.identity()
    replies = ctx.slack.thread(job.channel, job.reply_thread_ts, team=job.team)
    if ctx.delivery and answered_already(replies, job.message_ts, bot_user, bot_id, kind=job.kind):
        logs.info("answer", outcome="duplicate_delivery", kind=job.kind, channel=job.channel, delivery=ctx.delivery)
        return  # a redelivered task whose first attempt already answered
    lines = transcript_lines(replies, bot_user, bot_id)
    if not lines:
        ctx.slack.tell(job.channel, job.user, NOTHING, job.thread_ts, team=job.team)
        return
    system = summary_instructions(ctx.settings, job.channel)
    budget = ctx.settings.max_context_tokens - estimate_tokens(system) - RESERVE_TOKENS
    chunks = parts(lines, max(budget, 200))
    notes = []
    if len(chunks) > MAX_PARTS:
        left_out = sum(chunk.count("\n") + 1 for chunk in chunks[:-MAX_PARTS])
        chunks = chunks[-MAX_PARTS:]
        notes.append(f"The thread is very long: its oldest {left_out} messages are not in this summary.")
    if len(chunks) == 1:
        thread = chunks[0]
    else:
        try:
            thread = _summarize_parts(ctx, job, system, chunks)
        except ModelError as failure:
            post_notice(ctx, job, f":warning: {failure.user_message}")
            logs.info("answer", outcome=failure.kind, kind=job.kind, channel=job.channel, parts=len(chunks))
            return
    messages = [{"role": "system", "content": system}, {"role": "user", "content": f"Summarize this Slack thread:\n\n{thread}"}]
    stream_answer(ctx, job, messages, notes=notes, log_fields={"parts": len(chunks)})


def _summarize_parts(ctx: "Context", job: Job, system: str, chunks: list[str]) -> str:
    """Map step: one summary per part (not streamed to Slack), joined for the final summary."""
    options = ctx.settings.model_options(job.channel)
    summaries = []
    for number, chunk in enumerate(chunks, 1):
        prompt = f"This is part {number} of {len(chunks)} of a long Slack thread. Summarize this part:\n\n{chunk}"
        stream = ctx.model.stream([{"role": "system", "content": system}, {"role": "user", "content": prompt}], **options)
        try:
            summaries.append("".join(stream))
        finally:
            stream.close()
    return "\n\n".join(f"Summary of part {n} (oldest first):\n{s}" for n, s in enumerate(summaries, 1))
