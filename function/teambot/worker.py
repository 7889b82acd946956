"""The worker: runs one job with the handler its kind names (registry.py). Reached from Cloud
Tasks through POST /tasks/answer, or on a worker thread when run locally. Never raises, except
SecretUnavailable before anything was shown, so Cloud Tasks retries later."""

from __future__ import annotations

from . import logs
from .context import Context, Services
from .env import Settings
from .errors import SecretUnavailable
from .jobs import Job
from .registry import load_handlers
from .secret_store import SecretStore
from .slack_ops import SlackOps
from .write_budget import WriteBudget


class Worker:
    def __init__(self, settings: Settings, secrets: SecretStore):
        self.registry = load_handlers()
        # One per process; with WORKERS processes per instance each takes its part of Slack's tiers.
        budget = WriteBudget(processes=settings.server_workers)
        self.services = Services(settings=settings, secrets=secrets, slack=SlackOps(settings, secrets, budget), budget=budget)

    def run(self, job: Job, *, delivery: int = 0) -> None:
        handler = self.registry.get(job.kind)
        if handler is None:
            logs.error("job_failed", kind=job.kind, error="unknown_kind")
            return
        try:
            handler.run(Context(self.services, delivery=delivery), job)
        except SecretUnavailable:
            raise  # already logged with its likely cause; the task route answers 503
        except Exception as exc:  # a job must never take the process down: logged once, with its trace
            logs.exception("job_failed", exc, kind=job.kind, channel=job.channel)
