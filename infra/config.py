"""The only reader of `pulumi.Config`. Every key is declared, with its default and a
description, in Pulumi.yaml; README "Configuration" lists them too."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pulumi

from infra.config_tokens import ConfigTokenError, ConfigTokenStore, default_path
from infra.slack_app import DEFAULT_API_URL


@dataclass(frozen=True)
class StackConfig:
    project: str
    region: str = "us-central1"
    name: str = "slack-bot"
    bot_name: str = "TeamBot"
    runtime: str = "python312"
    memory: str = "512Mi"
    cpu: str = "1"
    timeout_seconds: int = 540
    concurrency: int = 40
    min_instances: int = 0
    max_instances: int = 10
    queue_max_dispatches_per_second: float = 10.0
    queue_max_concurrent_dispatches: int = 50
    queue_max_attempts: int = 3
    source_retention_days: int = 30
    # Secret values: pulumi.Output (secret) when set, None before the Slack app exists.
    openai_api_key: pulumi.Output | None = None
    slack_bot_token: pulumi.Output | None = None
    slack_signing_secret: pulumi.Output | None = None
    # Set: the stack creates and manages the Slack app (infra/slack_app.py). The plain value this
    # run uses, already renewed through tooling.tokens.rotate if a refresh token is configured;
    # it is wrapped as a secret wherever it goes. The token file is where renewed pairs live.
    slack_config_token: str | None = field(default=None, repr=False)
    slack_config_token_file: str = ""
    slack_api_url: str = DEFAULT_API_URL  # env SLACK_API_URL, as for `python -m infra.rotate` (tests: a fake)
    # Non-secret bot settings passed to the function as env vars (names in function/teambot/env.py).
    function_env: dict[str, str] = field(default_factory=dict)

    @property
    def function_url(self) -> str:
        """Deterministic, known before the function exists: no dependency cycle through env vars."""
        return f"https://{self.region}-{self.project}.cloudfunctions.net/{self.name}"


# config key -> env var of the function (only set when the key is set)
FUNCTION_ENV_KEYS = {
    "openaiModel": "OPENAI_MODEL",
    "openaiBaseUrl": "OPENAI_BASE_URL",
    "systemPrompt": "SYSTEM_PROMPT",
    "channelPrompts": "CHANNEL_PROMPTS",
    "maxContextTokens": "MAX_CONTEXT_TOKENS",
    "allowedTeamIds": "ALLOWED_TEAM_IDS",
    "allowedChannelIds": "ALLOWED_CHANNEL_IDS",
    "allowedUserIds": "ALLOWED_USER_IDS",
}
# StackConfig field -> (config key, type); unset keys keep the dataclass default.
SETTING_KEYS = {
    "region": ("region", str),
    "name": ("name", str),
    "bot_name": ("botName", str),
    "runtime": ("runtime", str),
    "memory": ("memory", str),
    "cpu": ("cpu", str),
    "timeout_seconds": ("timeoutSeconds", int),
    "concurrency": ("concurrency", int),
    "min_instances": ("minInstances", int),
    "max_instances": ("maxInstances", int),
    "queue_max_dispatches_per_second": ("queueMaxDispatchesPerSecond", float),
    "queue_max_concurrent_dispatches": ("queueMaxConcurrentDispatches", int),
    "queue_max_attempts": ("queueMaxAttempts", int),
    "source_retention_days": ("sourceRetentionDays", int),
}
SECRET_KEYS = {"openai_api_key": "openaiApiKey", "slack_bot_token": "slackBotToken", "slack_signing_secret": "slackSigningSecret"}
# Read as plain strings: the program must renew the token before any resource uses it.
CONFIG_TOKEN_KEYS = ("slackConfigToken", "slackConfigRefreshToken")


def _config_token(cfg: pulumi.Config, api_url: str) -> tuple[str | None, str]:
    token, refresh = (cfg.get(key) or None for key in CONFIG_TOKEN_KEYS)
    if not token:
        return None, ""
    path = default_path(pulumi.get_project(), pulumi.get_stack())
    try:
        return ConfigTokenStore(path, api_url=api_url).resolve(token, refresh), str(path)
    except ConfigTokenError as exc:
        raise pulumi.RunError(str(exc)) from None  # one clear line, no program traceback


def load() -> StackConfig:
    cfg = pulumi.Config()
    gcp = pulumi.Config("gcp")
    getters = {str: cfg.get, int: cfg.get_int, float: cfg.get_float}
    settings = {field: getters[kind](key) for field, (key, kind) in SETTING_KEYS.items()}
    settings = {field: value for field, value in settings.items() if value not in (None, "")}
    if "region" not in settings and gcp.get("region"):
        settings["region"] = gcp.get("region")
    slack_api_url = os.environ.get("SLACK_API_URL") or DEFAULT_API_URL
    slack_config_token, slack_config_token_file = _config_token(cfg, slack_api_url)
    return StackConfig(
        project=gcp.require("project"),
        **settings,
        **{field: cfg.get_secret(key) for field, key in SECRET_KEYS.items()},
        function_env={env: cfg.get(key) for key, env in FUNCTION_ENV_KEYS.items() if cfg.get(key)},
        slack_config_token=slack_config_token,
        slack_config_token_file=slack_config_token_file,
        slack_api_url=slack_api_url,
    )
