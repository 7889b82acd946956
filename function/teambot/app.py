"""Wiring: one App per process, built from the environment on the first request.

Slack --signed POST--> ingress: verify -> dedup -> enqueue -> 200 in ms
                                     | Cloud Tasks (OIDC) / worker thread (local)
                                     v
                     /tasks/answer -> worker: thread context -> model stream -> Slack reply
"""

from __future__ import annotations

import json
import threading

from teambot.ack.handoff import TASK_ROUTE, CloudTasksHandoff, InProcessHandoff
from teambot.ack.ingress import Ingress, read_body
from teambot.ack.signing import SIGNING_SECRET, SlackRequestVerifier
from teambot.ack.task_auth import TaskAuthenticator
from teambot.core import logs
from teambot.core.errors import BadRequest, BotError
from teambot.core.jobs import Job
from teambot.core.settings import SettingError, Settings, load_settings
from teambot.gcp.secret_store import SecretStore
from teambot.handlers import load_handlers
from teambot.install.routes import INSTALL_ROUTE, REDIRECT_ROUTE, InstallRoutes


def local_path(path: str, service: str | None) -> str:
    """The route a request is for, with or without a leading `/<K_SERVICE>`.

    Whether Google strips `/NAME` from `https://REGION-PROJECT.cloudfunctions.net/NAME/...`
    before a gen2 function (a Cloud Run service) sees the path is not documented first-hand, so
    both forms are accepted. Exact routes win, so a service named like a route segment still works.
    """
    if path in ROUTES or not service:
        return path
    prefix = "/" + service
    if path == prefix or path == prefix + "/":
        return "/"
    return path[len(prefix) :] if path.startswith(prefix + "/") else path


class App:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.secrets = SecretStore(settings.secret_refs, ttl_s=settings.secret_ttl_s, endpoint=settings.secret_manager_endpoint)
        if settings.tasks_queue:
            if not (settings.function_url and settings.tasks_invoker_sa):
                raise ValueError("TASKS_QUEUE needs FUNCTION_URL and TASKS_INVOKER_SA")
            self.handoff = CloudTasksHandoff(
                queue=settings.tasks_queue,
                function_url=settings.function_url,
                invoker_sa=settings.tasks_invoker_sa,
                endpoint=settings.cloud_tasks_endpoint,
                dispatch_deadline_s=settings.tasks_dispatch_deadline_s,
            )
        else:
            self.handoff = InProcessHandoff(self.run_job, max_workers=settings.worker_threads)
        self.ingress = Ingress(settings, SlackRequestVerifier(self.secrets), self.handoff, load_handlers())
        self.task_auth = TaskAuthenticator(
            audience=settings.function_url, invoker_email=settings.tasks_invoker_sa, certs_url=settings.oidc_certs_url
        )
        self.install = InstallRoutes(settings, self.secrets)
        self._worker = None
        self._worker_lock = threading.Lock()
        self._warm = False

    def worker(self):
        with self._worker_lock:
            if self._worker is None:
                from teambot.answer.worker import Worker  # the heavy half (openai, slack_sdk.web) loads here

                self._worker = Worker(self.settings, self.secrets, registry=self.ingress.registry, schedule=self.schedule)
            return self._worker

    def schedule(self, job: Job, delay_s: float) -> bool:
        """A job the worker hands itself, later (an approval's expiry): the same hand-off as Slack's."""
        return self.handoff.enqueue(job, delay_s=delay_s)

    def run_job(self, job: Job, *, delivery: int = 0) -> None:
        self.worker().run(job, delivery=delivery)

    def route(self, request):
        try:
            if not self._warm:
                self._warm = True
                self.secrets.load_all()  # cold start: all three at once; failures are logged
            route = ROUTES.get(local_path(request.path, self.settings.service_name))
            if route is None:
                return "not found", 404
            return route(self, request)
        except BadRequest as refused:
            logs.warning("refused", status=refused.status, reason=refused.reason, path=request.path)
            return refused.reason, refused.status, {"X-Slack-No-Retry": "1"}
        except BotError as failure:
            logs.error("unavailable", status=failure.status, error=type(failure).__name__)
            return "temporarily unavailable", failure.status
        except Exception as exc:  # never crash the process; never echo details
            error_id = logs.exception("unhandled", exc, path=request.path)
            return f"internal error (reference {error_id})", 500

    def _slack(self, request):
        self.secrets.get(SIGNING_SECRET)  # 503 now, rather than 401, if it is unreadable
        return self.ingress.handle(request)

    def _task(self, request):
        if request.method != "POST":
            raise BadRequest("method not allowed", 405)
        self.task_auth.verify(request.headers.get("Authorization"))
        body = read_body(request)
        try:
            job = Job.from_json(body)
        except (ValueError, TypeError):
            raise BadRequest("body is not a job") from None
        if self.ingress.registry.get(job.kind) is None:
            raise BadRequest("unknown job kind")
        retries = request.headers.get("X-CloudTasks-TaskRetryCount") or "0"
        if not retries.isdigit():
            raise BadRequest("X-CloudTasks-TaskRetryCount is not a count")
        delivery = int(retries)
        self.run_job(job, delivery=delivery)
        return json.dumps({"ok": True}), 200, {"Content-Type": "application/json"}


# path (after local_path) -> App method. Every route the function serves, in one table.
ROUTES = {
    "/": App._slack,
    "/slack/events": App._slack,
    TASK_ROUTE: App._task,
    INSTALL_ROUTE: lambda app, request: app.install.handle(request),
    REDIRECT_ROUTE: lambda app, request: app.install.handle(request),
}


def check_settings_or_exit(environ: dict[str, str] | None = None) -> Settings:
    """Run at process start (main.py import): every setting parsed now, not on the first request.
    A refused value ends the process with one line naming the variable, so Cloud Run keeps the
    previous revision serving. Secrets are not read here: an unreadable secret keeps the process
    up, answering 503 with a log line naming it (SecretStore), so IAM fixes heal without a deploy."""
    try:
        settings = load_settings(environ)
    except SettingError as exc:
        raise SystemExit(f"teambot: refusing to start: {exc}") from None
    if settings.tasks_queue and not (settings.function_url and settings.tasks_invoker_sa):
        raise SystemExit("teambot: refusing to start: TASKS_QUEUE: needs FUNCTION_URL and TASKS_INVOKER_SA")
    return settings


_app: App | None = None
_app_lock = threading.Lock()


def get_app() -> App:
    global _app
    if _app is None:
        with _app_lock:
            if _app is None:
                _app = App(Settings.from_env())
    return _app
