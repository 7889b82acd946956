"""The thinking steps of the work a question's answer did before the model call (steps.Step):
"Reading the thread" when its history was read (thread_context.py), and one step per shared file
with its name (thread_files.py), an error step when the file was skipped. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from teambot.answer.files import display_name, shared_files
from teambot.core.steps import COMPLETE, ERROR, Step

if TYPE_CHECKING:
    from teambot.answer.files import FileContext
    from teambot.core.jobs import Job

THREAD_STEP = "Reading the thread"


def answer_steps(replies: list[dict], files: "FileContext", job: "Job", bot_ids: tuple[str, str]) -> list[Step]:
    steps = []
    earlier = [m for m in replies if m.get("ts") != job.message_ts]
    if earlier:
        steps.append(Step("thread", THREAD_STEP, COMPLETE, output=f"{len(earlier)} earlier messages"))
    for i, (_, file) in enumerate(shared_files(replies, job.message_ts, bot_ids)):
        name = display_name(file)
        note = next((n for n in files.notes if name in n), "")
        skipped = note.startswith(("Skipped", "Image"))
        steps.append(
            Step(f"file-{i}", f"Reading {name.strip('`')}", ERROR if skipped else COMPLETE, details=name.strip("`"), output=note)
        )
    return steps
