"""Everything the worker asks of the Slack Web API, through slack_sdk's WebClient.

  * 429s are retried after `Retry-After` by slack_sdk's RateLimitErrorRetryHandler, so an
    answer always completes; 5xx and connection errors get a couple of retries too;
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

from .env import Settings
from .secret_store import SecretStore

BOT_TOKEN = "SLACK_BOT_TOKEN"
AUTH_ERRORS = frozenset({"invalid_auth", "token_revoked", "not_authed", "account_inactive", "token_expired"})


def slack_error(exc: SlackApiError) -> str:
    return (exc.response.get("error") if exc.response is not None else None) or "unknown_error"


class SlackOps:
    def __init__(self, settings: Settings, secrets: SecretStore):
        self._secrets = secrets
        self._client = WebClient(
            token=None,
            base_url=settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/",
            timeout=settings.slack_timeout_s,
            retry_handlers=[
                RateLimitErrorRetryHandler(max_retry_count=10),
                ServerErrorRetryHandler(max_retry_count=2),
                ConnectionErrorRetryHandler(max_retry_count=2),
            ],
        )
        self._identity: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def call(self, method: str, **kwargs):
        """`WebClient.<method>(**kwargs)` with the current bot token; one retry after a rotation."""
        token = self._secrets.get(BOT_TOKEN)
        try:
            return getattr(self._client, method)(token=token, **kwargs)
        except SlackApiError as exc:
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

    def thread(self, channel: str, thread_ts: str) -> list[dict]:
        """Every message of a thread, oldest first, with metadata (all pages)."""
        messages: list[dict] = []
        cursor = None
        for _ in range(50):  # 50 pages x 200 = far beyond any context budget
            response = self.call(
                "conversations_replies", channel=channel, ts=thread_ts, limit=200,
                include_all_metadata=True, cursor=cursor,
            )
            messages.extend(response.get("messages") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return messages

    def tell(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        """A short ephemeral note to one user (shortcut confirmations)."""
        self.call("chat_postEphemeral", channel=channel, user=user, text=text, thread_ts=thread_ts)
