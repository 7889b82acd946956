"""The one place that turns the three secret variables into values.

Each of SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and OPENAI_API_KEY holds either a literal value
(local runs, tests) or a Secret Manager version name `projects/P/secrets/S/versions/V`.
Values live in memory only. Rotation without a restart works three ways:
  * `refresh(name)`: callers re-read a key when upstream refuses it (OpenAI 401, Slack
    invalid_auth), optionally rate-limited (bad Slack signatures may come from anyone);
  * a time-to-live after which the next `get` re-reads in the background;
  * a failed read is remembered for a few seconds so a missing secret under load does not
    become a flood of Secret Manager calls.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from . import logs
from .errors import SecretUnavailable

SECRET_VERSION_NAME = re.compile(r"^projects/[^/]+/secrets/[^/]+/versions/[^/]+$")
PLACEHOLDERS = frozenset({"", "unset"})  # what infra stores until the operator sets a key
FAILURE_BACKOFF_S = 10.0
READ_TIMEOUT_S = 2.5  # the signing secret is read before the first ack: Slack waits 3 s at most

# By HTTP status (google-api-core exceptions carry it as `.code`, whatever the transport).
_LIKELY_CAUSE = {
    404: "the secret or version does not exist (set it with `pulumi config set --secret` and `pulumi up`)",
    403: "the runtime service account lacks roles/secretmanager.secretAccessor on it",
    400: "the latest version is disabled or destroyed (add a new version)",
    401: "the function has no valid Google credentials",
    503: "Secret Manager is unavailable right now; Slack will retry",
}


def is_placeholder(value: str) -> bool:
    return value.strip().lower() in PLACEHOLDERS


class SecretStore:
    def __init__(
        self,
        refs: dict[str, str],
        *,
        ttl_s: float = 600.0,
        endpoint: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._refs = dict(refs)
        self._ttl_s = ttl_s
        self._endpoint = endpoint
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}
        self._loaded_at: dict[str, float] = {}
        self._last_forced: dict[str, float] = {}
        self._failed: dict[str, tuple[float, SecretUnavailable]] = {}
        self._background: set[str] = set()
        self._client = None

    # -- reading -------------------------------------------------------------------------
    def is_managed(self, name: str) -> bool:
        return bool(SECRET_VERSION_NAME.match(self._refs.get(name, "")))

    def load_all(self) -> dict[str, SecretUnavailable]:
        """Cold start: resolve every secret not yet known, concurrently. Returns the failures
        (already logged); each caller decides whether the secret it needs is among them."""
        missing = [n for n in self._refs if n not in self._values]
        if len(missing) > 1 and any(self.is_managed(n) for n in missing):
            with ThreadPoolExecutor(max_workers=len(missing)) as pool:
                results = dict(zip(missing, pool.map(self._load_quietly, missing)))
        else:
            results = {name: self._load_quietly(name) for name in missing}
        return {name: failure for name, failure in results.items() if failure is not None}

    def get(self, name: str) -> str:
        value = self._values.get(name)
        if value is None:
            return self._load(name)
        if self.is_managed(name) and self._clock() - self._loaded_at[name] > self._ttl_s:
            self._refresh_in_background(name)
        return value

    def refresh(self, name: str, *, min_interval_s: float = 0.0) -> bool:
        """Re-read `name` now. True when the value changed. Rate-limited per name when asked."""
        if not self.is_managed(name):
            return False
        now = self._clock()
        with self._lock:
            last = self._last_forced.get(name)
            if min_interval_s and last is not None and now - last < min_interval_s:
                return False
            self._last_forced[name] = now
            self._failed.pop(name, None)
        old = self._values.get(name)
        return self._load(name) != old

    # -- internals -----------------------------------------------------------------------
    def _load_quietly(self, name: str) -> SecretUnavailable | None:
        try:
            self._load(name)
        except SecretUnavailable as failure:
            return failure
        return None

    def _load(self, name: str) -> str:
        ref = self._refs.get(name, "")
        if not self.is_managed(name):
            self._store(name, ref.strip())
            return self._values[name]
        failed = self._failed.get(name)
        if failed and self._clock() - failed[0] < FAILURE_BACKOFF_S:
            raise failed[1]
        try:
            # No client-side retry loop (its default runs for a minute): a failed read answers
            # 503 now, and Slack or Cloud Tasks retries later.
            response = self._secret_client().access_secret_version(name=ref, retry=None, timeout=READ_TIMEOUT_S)
            value = response.payload.data.decode("utf-8").strip()
        except Exception as exc:  # the client raises many types; classify, never leak the value
            kind = type(exc).__name__
            code = getattr(exc, "code", None)
            failure = SecretUnavailable(name, _LIKELY_CAUSE.get(code, kind) if isinstance(code, int) else kind)
            self._failed[name] = (self._clock(), failure)
            logs.error(
                "secret_unavailable", secret=name, resource=ref, error=kind, likely_cause=failure.cause
            )
            raise failure from None
        self._store(name, value)
        return value

    def _store(self, name: str, value: str) -> None:
        with self._lock:
            self._values[name] = value
            self._loaded_at[name] = self._clock()
            self._failed.pop(name, None)

    def _refresh_in_background(self, name: str) -> None:
        with self._lock:
            if name in self._background:
                return
            self._background.add(name)

        def run() -> None:
            try:
                self._load(name)
            except SecretUnavailable:
                pass  # keep serving the cached value; the failure is logged
            finally:
                with self._lock:
                    self._background.discard(name)

        threading.Thread(target=run, name=f"refresh-{name}", daemon=True).start()

    def _secret_client(self):
        if self._client is None:
            # Imported on first use only: literal-secret runs never pay for it.
            from google.api_core.client_options import ClientOptions
            from google.cloud.secretmanager_v1 import SecretManagerServiceClient

            if self._endpoint:  # tests and local runs: an emulator on loopback
                from google.auth.credentials import AnonymousCredentials

                self._client = SecretManagerServiceClient(
                    transport="rest",
                    credentials=AnonymousCredentials(),
                    client_options=ClientOptions(api_endpoint=self._endpoint),
                )
            else:
                self._client = SecretManagerServiceClient(transport="rest")
        return self._client
