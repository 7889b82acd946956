"""The only reader of `pulumi.Config`. Every key is declared, with its default and a
description, in Pulumi.yaml; README "Configuration" lists them too."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi


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
    suggested_prompts: str = ""  # JSON list for the AI panel; "" = the function's defaults
    # Secret values: pulumi.Output (secret) when set, None before the Slack app exists.
    openai_api_key: pulumi.Output | None = None
    slack_bot_token: pulumi.Output | None = None
    slack_signing_secret: pulumi.Output | None = None
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
    "suggestedPrompts": "SUGGESTED_PROMPTS",  # also rendered into the manifest (StackConfig.suggested_prompts)
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
    "suggested_prompts": ("suggestedPrompts", str),
}
SECRET_KEYS = {"openai_api_key": "openaiApiKey", "slack_bot_token": "slackBotToken", "slack_signing_secret": "slackSigningSecret"}


def load() -> StackConfig:
    cfg = pulumi.Config()
    gcp = pulumi.Config("gcp")
    getters = {str: cfg.get, int: cfg.get_int, float: cfg.get_float}
    settings = {field: getters[kind](key) for field, (key, kind) in SETTING_KEYS.items()}
    settings = {field: value for field, value in settings.items() if value not in (None, "")}
    if "region" not in settings and gcp.get("region"):
        settings["region"] = gcp.get("region")
    return StackConfig(
        project=gcp.require("project"),
        **settings,
        **{field: cfg.get_secret(key) for field, key in SECRET_KEYS.items()},
        function_env={env: cfg.get(key) for key, env in FUNCTION_ENV_KEYS.items() if cfg.get(key)},
    )
