"""The worker: runs one job (answer, stop, delete). Reached from Cloud Tasks through
POST /tasks/answer, or on a worker thread when run locally. Never raises, except
SecretUnavailable before anything was shown, so Cloud Tasks retries later."""

from __future__ import annotations

from . import logs
from .answer import answer
from .env import Settings
from .errors import SecretUnavailable
from .generations import Generations
from .jobs import ANSWER, DELETE, STOP, Job
from .secret_store import SecretStore
from .shortcuts import delete, stop
from .slack_ops import SlackOps

HANDLERS = {ANSWER: answer, STOP: stop, DELETE: delete}


class Worker:
    def __init__(self, settings: Settings, secrets: SecretStore):
        self.settings = settings
        self.secrets = secrets
        self.slack = SlackOps(settings, secrets)
        self.generations = Generations()
        self._model = None

    @property
    def model(self):
        """The model client, imported on first use: stop/delete jobs never pay for `import openai`."""
        if self._model is None:
            from .openai_ops import ModelOps

            self._model = ModelOps(self.settings, self.secrets)
        return self._model

    def run(self, job: Job, *, delivery: int = 0) -> None:
        try:
            HANDLERS[job.kind](self, job, delivery)
        except SecretUnavailable:
            raise  # already logged with its likely cause; the task route answers 503
        except Exception as exc:  # a job must never take the process down
            logs.error("job_failed", kind=job.kind, error=type(exc).__name__, channel=job.channel)
