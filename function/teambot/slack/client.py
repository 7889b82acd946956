"""Everything the worker asks of the Slack Web API, through slack_sdk's WebClient.

* every call of a rate-limited method waits for its slot in the instance's WriteBudget
  (write_budget.py), so the instance stays under Slack's per-workspace tiers;
* 429s are retried by slack_sdk's retry machinery (BudgetRateLimitHandler, a
  RateLimitErrorRetryHandler): the Retry-After pauses the method for every answer of the
  instance, and the retry waits for its slot like any other call, so an answer always completes;
  5xx and connection errors get a couple of retries too;
* a 429 is published on the workspace's shared "pause until" (slack_pause.py), so the other
  instances pause the method too instead of each spending its own 429;
* a revoked or rotated bot token (invalid_auth, token_revoked, ...) re-reads SLACK_BOT_TOKEN
  once and retries the call once.
"""

from __future__ import annotations

import threading

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from teambot.core import logs
from teambot.core.settings import Settings
from teambot.gcp.secret_store import SecretStore
from teambot.slack import pause as slack_pause
from teambot.slack.budget import WriteBudget

BOT_TOKEN = "SLACK_BOT_TOKEN"
# A 429 on these is not retried: the caller has a cheaper way on (a native start falls back to
# update mode at once rather than holding the answer for a Retry-After of up to a minute).
# Not retried after a 429: a refused native start means update mode; a status line that can't go
# out now is not worth holding the answer for.
NOT_RETRIED_ON_429 = frozenset({"chat.startStream", "assistant.threads.setStatus"})
AUTH_ERRORS = frozenset({"invalid_auth", "token_revoked", "not_authed", "account_inactive", "token_expired"})


def slack_error(exc: SlackApiError) -> str:
    return (exc.response.get("error") if exc.response is not None else None) or "unknown_error"


def failure_name(exc: BaseException) -> str:
    """What a failed Slack call says went wrong, for a log line: Slack's error code, else the
    exception's type (a timeout, a refused connection)."""
    return slack_error(exc) if isinstance(exc, SlackApiError) else type(exc).__name__


def _retry_after(headers) -> float:
    """Retry-After in seconds from a header mapping (values may be lists); 1 s if absent or odd."""
    for key, value in (headers or {}).items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return 1.0


def _api_method(url_or_name: str) -> str:
    return url_or_name.rsplit("/", 1)[-1].split("?", 1)[0]


class BudgetRateLimitHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 retry (slack_sdk/http_retry/builtin_handlers.py), told to the budget:
    instead of each call sleeping on its own, the method is paused for the whole instance and
    the retry takes the next slot of the budget."""

    def __init__(self, budget: WriteBudget, caller: threading.local, max_retry_count: int = 10):
        super().__init__(max_retry_count=max_retry_count)
        self._budget, self._caller = budget, caller

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        return super()._can_retry(state=state, request=request, response=response, error=error) and (
            _api_method(request.url) not in NOT_RETRIED_ON_429
        )

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        state.next_attempt_requested = True
        retry_after, method = _retry_after(response.headers), _api_method(request.url)
        team, channel = getattr(self._caller, "team", ""), getattr(self._caller, "channel", None)
        self._budget.rate_limited(team, method, retry_after, channel)
        logs.warning(
            "slack_rate_limited",
            method=method,
            retry_after_s=retry_after,
            attempt=state.current_attempt,
            share=round(self._budget.share(team, method), 2),
        )
        self._budget.take(team, method, channel)
        state.increment_current_attempt()


class SlackOps:
    def __init__(self, settings: Settings, secrets: SecretStore, budget: WriteBudget | None = None):
        self._secrets = secrets
        self.budget = budget or WriteBudget()
        if self.budget.board is None:  # 429s shared with the other instances (slack_pause.py)
            self.budget.board = slack_pause.from_settings(settings)
        self._caller = threading.local()  # (team, channel) of the call in progress, for the 429 handler
        self._client = WebClient(
            token=None,
            base_url=settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/",
            timeout=settings.slack_timeout_s,
            retry_handlers=[
                BudgetRateLimitHandler(self.budget, self._caller, max_retry_count=10),
                ServerErrorRetryHandler(max_retry_count=2),
                ConnectionErrorRetryHandler(max_retry_count=2),
            ],
        )
        self._identity: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def call(self, method: str, *, team: str = "", prepaid: bool = False, **kwargs):
        """`WebClient.<method>(**kwargs)` with the current bot token; one retry after a rotation.

        `method` is the WebClient attribute (chat_update); the call first waits for its slot in
        `team`'s budget, unless the caller already took it (`prepaid`, budget.try_take)."""
        api_method = method.replace("_", ".")  # Slack method names have no underscores
        channel = kwargs.get("channel") if api_method in self.budget.per_channel else None
        if not prepaid:
            waited = self.budget.take(team, api_method, channel)
            if waited > 1.0:
                logs.info("slack_budget_wait", method=api_method, waited_ms=round(waited * 1000))
        self._caller.team, self._caller.channel = team, channel
        token = self._secrets.get(BOT_TOKEN)
        try:
            return getattr(self._client, method)(token=token, **kwargs)
        except SlackApiError as exc:
            if exc.response is not None and exc.response.status_code == 429:  # not retried: tell the budget
                self.budget.rate_limited(team, api_method, _retry_after(exc.response.headers), channel)
                raise
            if slack_error(exc) not in AUTH_ERRORS or not self._secrets.refresh(BOT_TOKEN):
                raise
        return getattr(self._client, method)(token=self._secrets.get(BOT_TOKEN), **kwargs)

    def identity(self) -> tuple[str, str]:
        """(bot user id, bot id) from auth.test, once per process."""
        with self._lock:
            if self._identity is None:
                response = self.call("auth_test")
                self._identity = (response.get("user_id") or "", response.get("bot_id") or "")
            return self._identity

    def thread(self, channel: str, thread_ts: str, team: str = "") -> list[dict]:
        """Every message of a thread, oldest first, with metadata (all pages)."""
        messages: list[dict] = []
        cursor = None
        for _ in range(50):  # 50 pages x 200 = far beyond any context budget
            response = self.call(
                "conversations_replies",
                team=team,
                channel=channel,
                ts=thread_ts,
                limit=200,
                include_all_metadata=True,
                cursor=cursor,
            )
            messages.extend(response.get("messages") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return messages

    def tell(self, channel: str, user: str, text: str, thread_ts: str | None = None, team: str = "") -> None:
        """A short ephemeral note to one user (shortcut confirmations)."""
        self.call("chat_postEphemeral", team=team, channel=channel, user=user, text=text, thread_ts=thread_ts)
