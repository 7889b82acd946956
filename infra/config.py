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
}


def load() -> StackConfig:
    cfg = pulumi.Config()
    gcp = pulumi.Config("gcp")
    defaults = StackConfig(project="")
    return StackConfig(
        project=gcp.require("project"),
        region=cfg.get("region") or gcp.get("region") or defaults.region,
        name=cfg.get("name") or defaults.name,
        bot_name=cfg.get("botName") or defaults.bot_name,
        runtime=cfg.get("runtime") or defaults.runtime,
        memory=cfg.get("memory") or defaults.memory,
        cpu=cfg.get("cpu") or defaults.cpu,
        timeout_seconds=cfg.get_int("timeoutSeconds") or defaults.timeout_seconds,
        concurrency=cfg.get_int("concurrency") or defaults.concurrency,
        min_instances=cfg.get_int("minInstances") or defaults.min_instances,
        max_instances=cfg.get_int("maxInstances") or defaults.max_instances,
        queue_max_dispatches_per_second=cfg.get_float("queueMaxDispatchesPerSecond") or defaults.queue_max_dispatches_per_second,
        queue_max_concurrent_dispatches=cfg.get_int("queueMaxConcurrentDispatches") or defaults.queue_max_concurrent_dispatches,
        queue_max_attempts=cfg.get_int("queueMaxAttempts") or defaults.queue_max_attempts,
        source_retention_days=cfg.get_int("sourceRetentionDays") or defaults.source_retention_days,
        openai_api_key=cfg.get_secret("openaiApiKey"),
        slack_bot_token=cfg.get_secret("slackBotToken"),
        slack_signing_secret=cfg.get_secret("slackSigningSecret"),
        function_env={env: cfg.get(key) for key, env in FUNCTION_ENV_KEYS.items() if cfg.get(key)},
    )
