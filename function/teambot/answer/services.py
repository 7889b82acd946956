"""What a handler gets: a small context, not the whole worker.

`Services` are built once per process by the worker (the Slack client, the model client on
first use, answers in progress, the native-streaming memory, the Slack write budget shared by
every answer of the instance); a `Context` is those services
plus what is particular to one run (the Cloud Tasks delivery count).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from teambot.answer.generations import Generations
from teambot.core.settings import Settings
from teambot.gcp.secret_store import SecretStore
from teambot.slack.agent_session import SessionMemory
from teambot.slack.ai_panel import StatusMemory
from teambot.slack.budget import WriteBudget
from teambot.slack.stream_refusals import StreamRefusals
from teambot.usage.ledger import UsageLedger

if TYPE_CHECKING:
    from teambot.core.jobs import Job
    from teambot.slack.client import SlackOps


@dataclass
class Services:
    settings: Settings
    secrets: SecretStore
    slack: "SlackOps"
    generations: Generations = field(default_factory=Generations)
    refusals: StreamRefusals = field(default_factory=StreamRefusals)
    usage: UsageLedger | None = None  # budgets and counters; built from the settings when not given
    status: StatusMemory = field(default_factory=StatusMemory)  # assistant.threads.setStatus refusals
    budget: WriteBudget = field(default_factory=WriteBudget)  # the one SlackOps calls through
    sessions: SessionMemory = field(default_factory=SessionMemory)  # agents.sessions.* warnings/refusals
    views: dict = field(default_factory=dict)  # (team, user) -> channel in view (app_context_changed)
    # (job, delay_s) -> enqueued: the hand-off's own enqueue (a Cloud Tasks scheduleTime, or a timer)
    schedule: Callable[["Job", float], bool] | None = None
    _model: object = None
    _model_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        if self.usage is None:
            self.usage = UsageLedger.from_settings(self.settings or Settings())
            self.usage.warm()  # Firestore's client starts on the ledger's thread, off every request path

    @property
    def model(self):
        """The model client, imported on first use: jobs that never call the model never pay
        for `import openai`."""
        with self._model_lock:
            if self._model is None:
                from teambot.answer.model import ModelOps

                self._model = ModelOps(self.settings, self.secrets)
            return self._model


@dataclass(frozen=True)
class Context:
    services: Services
    delivery: int = 0  # Cloud Tasks' retry count: > 0 means an earlier attempt may have written

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def secrets(self) -> SecretStore:
        return self.services.secrets

    @property
    def slack(self) -> "SlackOps":
        return self.services.slack

    @property
    def model(self):
        return self.services.model

    def schedule(self, job: "Job", delay_s: float) -> bool:
        """Run `job` (a registered kind) no sooner than `delay_s` from now, on whichever instance."""
        if self.services.schedule is None:
            raise RuntimeError("this worker was built without a hand-off to schedule jobs on")
        return self.services.schedule(job, delay_s)

    @property
    def generations(self) -> Generations:
        return self.services.generations

    @property
    def refusals(self) -> StreamRefusals:
        return self.services.refusals

    @property
    def usage(self) -> UsageLedger:
        return self.services.usage

    @property
    def budget(self) -> WriteBudget:
        return self.services.budget
