"""Slack app configuration tokens (`slackConfigToken`, `slackConfigRefreshToken`) for `pulumi up`.

A configuration token lasts 12 hours; its refresh token is single use: `tooling.tokens.rotate`
consumes it and returns a new pair (docs.slack.dev/reference/methods/tooling.tokens.rotate).
Pulumi's stack config is written by the CLI only, so the program cannot put the new pair back
there. It goes to a token file instead, written (0600, atomically: temp file + rename) right
after Slack answers and before anything else happens, so a run that fails later never loses the
only valid refresh token. This is what Slack's own CLI does (~/.slack/credentials.json).

  ~/.config/slack-gpt-bot/<project>.<stack>.slack-config-token.json   ($XDG_CONFIG_HOME honoured)

The file remembers a fingerprint of the configured refresh token it grew from: a new
`pulumi config set --secret slackConfigRefreshToken ...` starts a new chain; otherwise the file's
newer pair wins. Without a refresh token the file still records the latest configured token, so
`pulumi destroy` (which does not run the program) can use it. Tokens are never printed or logged.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

RENEW_MARGIN_S = 30 * 60  # renew when less than this is left: one `pulumi up` must not outlive its token
TOKEN_ERRORS = frozenset({"token_expired", "invalid_auth", "not_authed", "token_revoked", "account_inactive"})
FRESH_TOKEN_HELP = (
    'get a fresh one at https://api.slack.com/apps (section "Your App Configuration Tokens", Generate Token), then '
    "`pulumi config set --secret slackConfigToken xoxe.xoxp-...` and, so later runs renew it by themselves, "
    "`pulumi config set --secret slackConfigRefreshToken xoxe-...`"
)


class ConfigTokenError(Exception):
    """A message for the operator; never contains a token."""


def default_path(project: str, stack: str) -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "slack-gpt-bot" / f"{project}.{stack}.slack-config-token.json"


def fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


class ConfigTokenStore:
    def __init__(self, path: str | Path, *, api_url: str, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.api_url = api_url.rstrip("/") + "/"  # one form (infra/slack_app.py api_base_url)
        self.clock = clock

    def load(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("token") else None

    def save(self, pair: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")  # created 0600
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(pair, f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def resolve(self, token: str, refresh_token: str | None) -> str:
        """The token this run should use (program time): the configured one, or the newest of its
        chain in the token file, renewed first when it is (nearly) expired and a refresh token exists."""
        seed = fingerprint(refresh_token or token)
        stored = self.load()
        if stored and stored.get("seed") == seed:
            pair = stored
        else:
            pair = {"token": token, "refresh_token": refresh_token, "exp": None, "seed": seed}
            self.save(pair)
        return self._fresh(pair)["token"]

    def current(self, fallback: str, *, renew: bool = False) -> str:
        """The newest token known on this machine (provider time, e.g. `pulumi destroy`). `renew`
        rotates even if the clock says the token is still good (Slack said token_expired)."""
        stored = self.load()
        if not stored:
            return fallback
        if renew and stored.get("refresh_token"):
            return self._rotate(stored)["token"]
        return self._fresh(stored)["token"]

    def _fresh(self, pair: dict) -> dict:
        exp = pair.get("exp")
        if pair.get("refresh_token") and (exp is None or exp - self.clock() < RENEW_MARGIN_S):
            return self._rotate(pair)
        return pair

    def _rotate(self, pair: dict) -> dict:
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        try:
            answer = WebClient(base_url=self.api_url, timeout=30).tooling_tokens_rotate(refresh_token=pair["refresh_token"])
        except SlackApiError as exc:
            code = exc.response.get("error")
            raise ConfigTokenError(
                f"Slack refused the app configuration refresh token ({code}): refresh tokens are single use; {FRESH_TOKEN_HELP}"
            ) from None
        except OSError as exc:
            raise ConfigTokenError(
                f"could not reach Slack at {self.api_url} to renew the configuration token ({type(exc).__name__}); try again"
            ) from None
        new = {"token": answer["token"], "refresh_token": answer["refresh_token"], "exp": answer.get("exp"), "seed": pair["seed"]}
        self.save(new)  # before anything else: the old refresh token is spent
        return new
