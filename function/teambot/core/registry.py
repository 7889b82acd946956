"""One registry of the Slack inputs the bot acts on, each declared once, next to its handler.

    @on_event("app_mention", "message", parse=question_from_event)   # Events API
    @message_shortcut("stop_generation")                              # message shortcut callback id
    @block_action("answer_feedback")                                  # block_actions action id
    @scheduled_job("mcp_approval_expire")                             # the bot's own delayed job

A declaration says how ingress turns the input into a `Job` (pure, milliseconds, on the ack
path) and what the worker runs for it: `handler(ctx, job)`, with a small `Context`
(context.py). Handler modules live in `teambot/handlers/` and are found by `load_handlers()`:
a new input is its manifest line, one handler module and its test. A scheduled job is no Slack
input: the worker enqueues it itself (`ctx.schedule(job, delay_s)`), and only the task route
(OIDC) or the in-process queue can run it. Its kind is written out, never taken from the
function's name, as it travels in tasks already queued. Handler modules keep their
top-level imports light (they are imported on the ack path) and import the heavy half
(slack_sdk's WebClient, the answer pipeline, openai) inside the handler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from teambot.core.jobs import Job

if TYPE_CHECKING:
    from teambot.answer.services import Context
    from teambot.core.settings import Settings

Run = Callable[["Context", Job], None]
Parse = Callable[[dict, "Settings"], "Job | None"]  # (envelope, settings) -> Job or None


@dataclass(frozen=True)
class Handler:
    kind: str  # the Job kind; travels in the Cloud Tasks body
    run: Run
    events: tuple[str, ...] = ()
    parse: Parse | None = None  # events only: (envelope, settings) -> Job (None: not for us)
    shortcut: str | None = None  # message shortcut callback id
    action: str | None = None  # block action id


class Registry:
    def __init__(self):
        self._by_kind: dict[str, Handler] = {}

    def add(self, handler: Handler) -> Handler:
        if handler.kind in self._by_kind:
            raise ValueError(f"two handlers for job kind {handler.kind!r}")
        for other in self._by_kind.values():
            if handler.shortcut and handler.shortcut == other.shortcut:
                raise ValueError(f"two handlers for shortcut {handler.shortcut!r}")
            if handler.action and handler.action == other.action:
                raise ValueError(f"two handlers for action {handler.action!r}")
        self._by_kind[handler.kind] = handler
        return handler

    # -- declaring -----------------------------------------------------------------------
    def on_event(self, *event_types: str, parse: Parse, kind: str):
        """`kind` is written out: it travels in tasks already queued, so renaming the function
        must not change it."""

        def declare(run: Run) -> Run:
            self.add(Handler(kind, run, events=event_types, parse=parse))
            return run

        return declare

    def message_shortcut(self, callback_id: str):
        def declare(run: Run) -> Run:
            self.add(Handler(callback_id, run, shortcut=callback_id))
            return run

        return declare

    def block_action(self, action_id: str):
        def declare(run: Run) -> Run:
            self.add(Handler(action_id, run, action=action_id))
            return run

        return declare

    def scheduled_job(self, kind: str):
        def declare(run: Run) -> Run:
            self.add(Handler(kind, run))
            return run

        return declare

    # -- looking up ----------------------------------------------------------------------
    def get(self, kind: str) -> Handler | None:
        return self._by_kind.get(kind)

    def for_event(self, event_type: str) -> list[Handler]:
        return [h for h in self._by_kind.values() if event_type in h.events]

    def for_shortcut(self, callback_id: str) -> Handler | None:
        return next((h for h in self._by_kind.values() if h.shortcut == callback_id), None)

    def for_action(self, action_id: str) -> Handler | None:
        return next((h for h in self._by_kind.values() if h.action == action_id), None)

    @property
    def event_types(self) -> set[str]:
        return {e for h in self._by_kind.values() for e in h.events}

    @property
    def shortcuts(self) -> set[str]:
        return {h.shortcut for h in self._by_kind.values() if h.shortcut}

    @property
    def actions(self) -> set[str]:
        return {h.action for h in self._by_kind.values() if h.action}


REGISTRY = Registry()
on_event = REGISTRY.on_event
message_shortcut = REGISTRY.message_shortcut
block_action = REGISTRY.block_action
scheduled_job = REGISTRY.scheduled_job
