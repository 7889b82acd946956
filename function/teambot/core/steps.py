"""Thinking steps: the work an answer does before and while it writes (reading the thread, reading
a shared file, a web search, a tool call), shown to the user as it happens.

A `Step` is what the producers (handlers, the model stream) emit and what the Slack writer shows:
natively as a `task_update` chunk of the stream (slack_sdk.models.messages.chunk.TaskUpdateChunk:
id, title, status, details, output, sources), in update mode as a short context line that the
final text replaces. Emitting the same `id` again updates that step. Pure, standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

# Slack's task_update statuses (TaskUpdateChunk: "pending", "in_progress", "complete", "error").
PENDING, IN_PROGRESS, COMPLETE, ERROR = "pending", "in_progress", "complete", "error"
STATUSES = (PENDING, IN_PROGRESS, COMPLETE, ERROR)


@dataclass(frozen=True)
class Source:
    """A link the step (or the answer) used: a task card's `sources` entry, a "Sources" line item."""

    url: str
    title: str = ""


@dataclass(frozen=True)
class Step:
    id: str  # stable within one answer: a later Step with the same id updates the card
    title: str  # what the user reads: "Reading the thread", "Searching the web"
    status: str = IN_PROGRESS
    details: str = ""  # e.g. the search query, the file name
    output: str = ""  # e.g. "3 results", "failed: timeout"
    sources: tuple[Source, ...] = ()

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"step status must be one of {', '.join(STATUSES)}")
