"""The one place that turns the three secret variables into values.

Each of SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN and OPENAI_API_KEY holds either a literal value
(local runs, tests) or a Secret Manager version name `projects/P/secrets/S/versions/V`.
Values live in memory only. Rotation without a restart works three ways:
  * `refresh(name)`: callers re-read a key when upstream refuses it (OpenAI 401, Slack
    invalid_auth), optionally rate-limited (bad Slack signatures may come from anyone);
  * a time-to-live after which the next `get` re-reads in the background;
  * a failed read is remembered for a few seconds so a missing secret under load does not
    become a flood of Secret Manager calls.
What a request waits on (the cold start, a forced re-read after a refusal) is one REST GET
(secret_rest.py): importing the official client cost most of the first ack after a cold start.
The time-to-live re-read, which no request waits on, goes through google-cloud-secret-manager
(secret_client.py), as does infra/rotate.py, which writes versions. Both readers raise the same
SecretReadError, so failures are classified and logged alike.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from teambot.core import logs
from teambot.core.errors import SecretUnavailable
from teambot.gcp.secret_client import SecretManagerClientReader
from teambot.gcp.secret_rest import SecretManagerRest, SecretReadError
from teambot.gcp.token import token_source

SECRET_VERSION_NAME = re.compile(r"^projects/[^/]+/secrets/[^/]+/versions/[^/]+$")
PLACEHOLDERS = frozenset({"", "unset"})  # what infra stores until the operator sets a key
FAILURE_BACKOFF_S = 10.0
READ_TIMEOUT_S = 2.5  # the signing secret is read before the first ack: Slack waits 3 s at most

# By the HTTP status Secret Manager answered (https://cloud.google.com/secret-manager/docs/reference/rest/v1/projects.secrets.versions/access
# and https://cloud.google.com/apis/design/errors): what the operator most likely has to fix.
_LIKELY_CAUSE = {
    404: "the secret or version does not exist (set it with `pulumi config set --secret` and `pulumi up`)",
    403: "the runtime service account lacks roles/secretmanager.secretAccessor on it",
    400: "the latest version is disabled or destroyed (add a new version)",
    401: "the function has no valid Google credentials",
    429: "Secret Manager's access quota is exhausted right now; Slack will retry",
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
        token=None,
    ):
        """`token`: where the Google access token comes from (gcp_token.py); chosen from the
        environment when not given."""
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
        token = token or token_source(endpoint)
        self._reader = SecretManagerRest(endpoint, token, timeout_s=READ_TIMEOUT_S)
        self._background_reader = SecretManagerClientReader(endpoint, timeout_s=READ_TIMEOUT_S)

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

    def _load(self, name: str, *, background: bool = False) -> str:
        ref = self._refs.get(name, "")
        if not self.is_managed(name):
            self._store(name, ref.strip())
            return self._values[name]
        failed = self._failed.get(name)
        if failed and self._clock() - failed[0] < FAILURE_BACKOFF_S:
            raise failed[1]
        try:
            # No retry loop: a failed read answers 503 now, and Slack or Cloud Tasks retries later.
            value = (self._background_reader if background else self._reader).access(ref)
        except SecretReadError as exc:  # classify; the message never carries a value
            if exc.status is None:
                cause = exc.kind
            else:
                cause = _LIKELY_CAUSE.get(exc.status, f"Secret Manager answered HTTP {exc.status}")
            failure = SecretUnavailable(name, cause)
            self._failed[name] = (self._clock(), failure)
            logs.error(
                "secret_unavailable",
                secret=name,
                resource=ref,
                error=exc.kind,
                http_status=exc.status,
                likely_cause=failure.cause,
            )
            raise failure from None
        self._store(name, value)
        return value

    def _store(self, name: str, value: str) -> None:
        with self._lock:
            old = self._values.get(name)
            self._values[name] = value
            self._loaded_at[name] = self._clock()
            self._failed.pop(name, None)
        if old is not None and old != value:
            logs.info("secret_rotated", secret=name)  # a rotation picked up, by TTL or after a refusal: the name only

    def _refresh_in_background(self, name: str) -> None:
        with self._lock:
            if name in self._background:
                return
            self._background.add(name)

        def run() -> None:
            try:
                self._load(name, background=True)
            except SecretUnavailable:
                pass  # keep serving the cached value; the failure is logged
            finally:
                with self._lock:
                    self._background.discard(name)

        threading.Thread(target=run, name=f"refresh-{name}", daemon=True).start()
