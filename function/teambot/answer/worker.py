"""The worker: runs one job with the handler its kind names (registry.py). Reached from Cloud
Tasks through POST /tasks/answer, or on a worker thread when run locally. Never raises, except
SecretUnavailable before anything was shown, so Cloud Tasks retries later."""

from __future__ import annotations

from teambot.answer.services import Context, Services
from teambot.core import logs
from teambot.core.errors import SecretUnavailable, unexpected_message
from teambot.core.jobs import Job
from teambot.core.registry import REGISTRY, Registry
from teambot.core.settings import Settings
from teambot.gcp.secret_store import SecretStore
from teambot.slack.budget import WriteBudget
from teambot.slack.client import SlackOps

# Jobs no person is waiting on (the AI panel opening, its context changing, the Home tab).
SILENT_KINDS = frozenset({"assistant_thread_started", "assistant_thread_context_changed", "app_home"})


class Worker:
    def __init__(self, settings: Settings, secrets: SecretStore, *, registry: Registry = REGISTRY, schedule=None):
        self.registry = registry  # the handlers, loaded by the App (teambot.handlers.load_handlers)
        # One per process; with WORKERS processes per instance each takes its part of Slack's tiers.
        budget = WriteBudget(processes=settings.server_workers)
        self.services = Services(
            settings=settings, secrets=secrets, slack=SlackOps(settings, secrets, budget), budget=budget, schedule=schedule
        )

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
            error_id = logs.exception("job_failed", exc, kind=job.kind, channel=job.channel)
            self._tell(job, error_id)

    def _tell(self, job: Job, error_id: str) -> None:
        """One honest sentence to the person who asked, with the log line's reference: ephemeral
        (only they see it), in the thread of their message. Events nobody asked for stay silent."""
        if job.kind in SILENT_KINDS or not (job.channel and job.user):
            return
        try:
            self.services.slack.call(
                "chat_postEphemeral",
                team=job.team,
                channel=job.channel,
                user=job.user,
                thread_ts=job.thread_ts or job.message_ts,
                text=unexpected_message(error_id),
            )
        except Exception as exc:  # Slack is failing too: the log line is all that is left
            logs.failed("job_failed_notice", exc, kind=job.kind, channel=job.channel)
