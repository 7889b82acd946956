"""The only reader of `pulumi.Config`. `KEYS` is the one table of config keys: name, type, default
and where each value goes; a key's `env` names a row of the function's table of settings
(`teambot.core.settings.SETTINGS`). Pulumi.yaml declares the same keys with their descriptions
(tests/integration/test_infra.py checks type and default against this table); docs/configure.md's
tables are generated from both (`python -m infra.configure_doc`, `make docs`). Adding a key = one line here
plus its declaration in Pulumi.yaml.

`check()` refuses at preview, with the keys named, a config Google would reject or that would
break "answer once"; `function_runtime_env()` is how the stack configures the function's server
(also imported by the benchmark to run an instance "exactly as the stack does").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pulumi

from infra.config_tokens import ConfigTokenError, ConfigTokenStore, default_path
from infra.slack_app import DEFAULT_API_URL

# The function's own parsers (standard library only): the deploy and the function share one
# definition of every setting and channel profile, so a bad value fails at preview.
from teambot.core import profiles as channel_profiles
from teambot.core import settings as function_settings

# Cloud Tasks HTTP targets accept a dispatch deadline of 15 s to 30 min
# (cloud.google.com/tasks/docs/reference/rest/v2/projects.locations.queues.tasks#Task.FIELDS.dispatch_deadline).
DISPATCH_DEADLINE_RANGE = (15, 1800)
# Gen2 HTTP functions: timeout up to 60 min (cloud.google.com/functions/docs/configuring/timeout).
TIMEOUT_RANGE = (1, 3600)
# Cloud Tasks starts its deadline clock when it dispatches; the function's timeout starts when an
# instance gets the request. A cold start and Cloud Run's wait for a free instance come in
# between, so the deadline must exceed the timeout by a margin, or Cloud Tasks counts a
# still-running answer as failed and delivers the task again (a second answer beside the first).
# 30 s covers a cold start (about 1 s measured here, BENCHMARKS.md) with a wide margin.
DISPATCH_MARGIN_SECONDS = 30
# functions-framework serves with gunicorn `THREADS` threads (functions_framework/_http/gunicorn.py,
# default os.cpu_count() * 4 = 4 on one vCPU) while Cloud Run sends up to `concurrency` requests to
# an instance. A task holds its request (and its thread) for the whole answer, so with fewer
# threads than requests, Slack's acks queue behind answers. One thread per request Cloud Run may
# send, plus a few for the moment between Cloud Run counting a request done (response sent) and
# its thread returning to the pool (after-response callbacks, connection teardown). An idle
# thread costs a stack and no CPU.
THREAD_HEADROOM = 4
CONCURRENCY_RANGE = (1, 1000)  # Cloud Run's maximum requests per instance

PUBLIC_ALL_USERS = "allUsers"
PUBLIC_INVOKER_CHECK_DISABLED = "invokerIamCheckDisabled"
PUBLIC_ACCESS_MODES = (PUBLIC_ALL_USERS, PUBLIC_INVOKER_CHECK_DISABLED)


@dataclass(frozen=True)
class Key:
    """One config key. `field`: the StackConfig attribute it sets; `env`: the function env var it
    sets (only when set); `secret`: read with get_secret. Float keys are declared `type: string`
    in Pulumi.yaml: a project file knows string, integer, boolean and array, and an `integer`
    declaration makes Pulumi refuse `0.5`."""

    name: str
    kind: type
    default: object
    field: str | None = None
    env: str | None = None
    secret: bool = False


KEYS: tuple[Key, ...] = (
    Key("region", str, "us-central1", field="region"),
    Key("name", str, "slack-bot", field="name"),
    Key("botName", str, "TeamBot", field="bot_name"),
    Key("openaiApiKey", str, "", field="openai_api_key", secret=True),
    Key("slackBotToken", str, "", field="slack_bot_token", secret=True),
    Key("slackSigningSecret", str, "", field="slack_signing_secret", secret=True),
    Key("openaiModel", str, "gpt-5-mini", env="OPENAI_MODEL"),
    Key("openaiBaseUrl", str, "", env="OPENAI_BASE_URL"),
    Key("systemPrompt", str, "", env="SYSTEM_PROMPT"),
    Key("channelPrompts", str, "", env="CHANNEL_PROMPTS"),
    Key("channelProfiles", str, "", env="CHANNEL_PROFILES"),
    Key("visionEnabled", bool, True, env="VISION_ENABLED"),
    Key("maxContextTokens", int, 24000, env="MAX_CONTEXT_TOKENS"),
    Key("allowedTeamIds", str, "", env="ALLOWED_TEAM_IDS"),
    Key("allowedChannelIds", str, "", env="ALLOWED_CHANNEL_IDS"),
    Key("allowedUserIds", str, "", env="ALLOWED_USER_IDS"),
    Key("allowedExternalTeamIds", str, "", env="ALLOWED_EXTERNAL_TEAM_IDS"),  # Slack Connect (SECURITY.md)
    Key("suggestedPrompts", str, "", env="SUGGESTED_PROMPTS"),  # also rendered into the manifest
    Key("runtime", str, "python312", field="runtime"),
    Key("memory", str, "512Mi", field="memory"),
    Key("cpu", str, "1", field="cpu"),
    Key("timeoutSeconds", int, 540, field="timeout_seconds"),
    Key("taskDispatchDeadlineSeconds", int, 600, field="task_dispatch_deadline_seconds"),
    Key("concurrency", int, 40, field="concurrency"),
    Key("minInstances", int, 0, field="min_instances"),
    Key("maxInstances", int, 10, field="max_instances"),
    Key("publicAccess", str, PUBLIC_ALL_USERS, field="public_access"),
    Key("queueMaxDispatchesPerSecond", float, 10.0, field="queue_max_dispatches_per_second"),
    Key("queueMaxConcurrentDispatches", int, 50, field="queue_max_concurrent_dispatches"),
    Key("queueMaxAttempts", int, 3, field="queue_max_attempts"),
    Key("sourceRetentionDays", int, 30, field="source_retention_days"),
    # Slack app management (infra/slack_app.py): read on their own, before any resource, see _config_token
    Key("slackConfigToken", str, ""),
    Key("slackConfigRefreshToken", str, ""),
    Key("modelPrices", str, "", env="MODEL_PRICES"),
    Key("dailyTokenBudgetPerUser", int, 0, env="DAILY_TOKEN_BUDGET_PER_USER"),
    Key("dailyTokenBudgetPerTeam", int, 0, env="DAILY_TOKEN_BUDGET_PER_TEAM"),
    Key("adminUserIds", str, "", env="ADMIN_USER_IDS"),
    Key("alertEmail", str, "", field="alert_email"),  # the error-ratio alert's email channel; "" = none
    # Responses API and hosted tools (issue 20): "" = the function's default (responses on OpenAI)
    Key("openaiApi", str, "", env="OPENAI_API"),
    Key("webSearch", str, "off", env="WEB_SEARCH"),
    Key("mcpServers", str, "", env="MCP_SERVERS"),
)
KEYS_BY_NAME = {key.name: key for key in KEYS}
# Each key's `env` is a row of the function's table of settings (its parser, default and meaning):
# a key cannot set a variable the function does not read.
_UNKNOWN_ENV = [key.env for key in KEYS if key.env and key.env not in function_settings.SETTINGS_BY_NAME]
if _UNKNOWN_ENV:
    raise RuntimeError(f"infra/config.py KEYS set variables missing from teambot.core.settings.SETTINGS: {_UNKNOWN_ENV}")


@dataclass(frozen=True)
class StackConfig:
    """Every value the program uses; unset keys hold the table's default (see `defaults()`)."""

    project: str
    region: str
    name: str
    bot_name: str
    runtime: str
    memory: str
    cpu: str
    timeout_seconds: int
    task_dispatch_deadline_seconds: int
    concurrency: int
    min_instances: int
    max_instances: int
    public_access: str
    queue_max_dispatches_per_second: float
    queue_max_concurrent_dispatches: int
    queue_max_attempts: int
    source_retention_days: int
    alert_email: str
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
    # Non-secret bot settings passed to the function as env vars (names in function/teambot/core/settings.py).
    function_env: dict[str, str] = field(default_factory=dict)

    @property
    def suggested_prompts(self) -> str:
        """JSON list for the AI panel ("" = the function's defaults): the function's env and the manifest."""
        return self.function_env.get("SUGGESTED_PROMPTS", "")

    @property
    def every_message(self) -> bool:
        """A channel profile answers every message: the manifest asks for channel message events.
        (check() has refused an invalid channelProfiles before anything reads this.)"""
        return channel_profiles.answers_every_message(
            channel_profiles.parse_profiles(self.function_env.get("CHANNEL_PROFILES", ""), source="channelProfiles")
        )

    @property
    def mcp_authorization_secrets(self) -> list[tuple[str, str]]:
        """(project, secret id) of every MCP server's `authorization_secret`, in mcpServers and in
        every channel profile, once each: the runtime identity must read them (BotSecrets grants
        secretAccessor on each). (check() has refused invalid entries before anything reads this.)"""
        servers = list(channel_profiles.parse_mcp_servers(self.function_env.get("MCP_SERVERS", ""), source="mcpServers"))
        profiles = channel_profiles.parse_profiles(self.function_env.get("CHANNEL_PROFILES", ""), source="channelProfiles")
        servers += [s for p in profiles.values() for s in (p.mcp_servers or ())]
        found = []
        for server in servers:
            if server.authorization_secret:
                _, project, _, secret, *_ = server.authorization_secret.split("/")
                if (project, secret) not in found:
                    found.append((project, secret))
        return found

    @property
    def function_url(self) -> str:
        """Deterministic, known before the function exists: no dependency cycle through env vars."""
        return f"https://{self.region}-{self.project}.cloudfunctions.net/{self.name}"


def defaults(project: str, **overrides) -> StackConfig:
    """The config of a stack where only gcp:project is set (plus `overrides`, by field name)."""
    values = {key.field: key.default for key in KEYS if key.field and not key.secret}
    return StackConfig(project=project, **{**values, **overrides})


class ConfigError(pulumi.RunError):
    """A config value the stack refuses; Pulumi prints the message without a traceback."""


def check(cfg: StackConfig) -> list[str]:
    """Problems with a config, each naming its keys (empty = fine)."""
    problems = []
    lo, hi = DISPATCH_DEADLINE_RANGE
    deadline = cfg.task_dispatch_deadline_seconds
    if not lo <= deadline <= hi:
        problems.append(f"taskDispatchDeadlineSeconds is {deadline}; Cloud Tasks accepts {lo} to {hi} for HTTP tasks.")
    if not TIMEOUT_RANGE[0] <= cfg.timeout_seconds <= TIMEOUT_RANGE[1]:
        problems.append(
            f"timeoutSeconds is {cfg.timeout_seconds}; gen2 HTTP functions accept {TIMEOUT_RANGE[0]} to {TIMEOUT_RANGE[1]}."
        )
    elif cfg.timeout_seconds + DISPATCH_MARGIN_SECONDS > deadline:
        problems.append(
            f"timeoutSeconds ({cfg.timeout_seconds}) must be at least {DISPATCH_MARGIN_SECONDS} s below "
            f"taskDispatchDeadlineSeconds ({deadline}): otherwise Cloud Tasks gives up on an answer that is still "
            f"running and delivers the task again. Lower timeoutSeconds or raise taskDispatchDeadlineSeconds "
            f"(at most {hi})."
        )
    if not CONCURRENCY_RANGE[0] <= cfg.concurrency <= CONCURRENCY_RANGE[1]:
        problems.append(f"concurrency is {cfg.concurrency}; Cloud Run accepts {CONCURRENCY_RANGE[0]} to {CONCURRENCY_RANGE[1]}.")
    if not 0 < cfg.queue_max_dispatches_per_second <= 500:
        problems.append(
            f"queueMaxDispatchesPerSecond is {cfg.queue_max_dispatches_per_second}; Cloud Tasks accepts more than 0, at most 500."
        )
    if cfg.public_access not in PUBLIC_ACCESS_MODES:
        problems.append(f"publicAccess is {cfg.public_access!r}; use one of {', '.join(PUBLIC_ACCESS_MODES)}.")
    try:  # the function's own validator: names the channel and the key
        channel_profiles.parse_profiles(cfg.function_env.get("CHANNEL_PROFILES", ""), source="channelProfiles")
    except channel_profiles.ProfileError as exc:
        problems.append(f"channelProfiles: {exc}.")
    # Every other function setting, with the parsers the function itself runs at start.
    config_key = {key.env: key.name for key in KEYS if key.env}
    for problem in function_settings.settings_problems(cfg.function_env):
        if problem.name != "CHANNEL_PROFILES":  # reported just above, with the channel
            problems.append(f"{config_key.get(problem.name, problem.name)}: {problem.why}.")
    api = cfg.function_env.get("OPENAI_API", "").strip().lower()
    if api and api not in ("responses", "chat_completions"):
        problems.append(f"openaiApi is {api!r}; use responses or chat_completions (or leave it unset).")
    if cfg.function_env.get("WEB_SEARCH", "off").strip().lower() not in ("on", "off", ""):
        problems.append("webSearch must be on or off.")
    try:  # the function's own validator of MCP servers
        channel_profiles.parse_mcp_servers(cfg.function_env.get("MCP_SERVERS", ""), source="mcpServers")
    except channel_profiles.ProfileError as exc:
        problems.append(f"mcpServers: {exc}.")
    if not problems:  # hosted tools with chat_completions: the function would refuse to start
        try:
            function_settings.Settings.from_env(cfg.function_env)  # runs check_tools_api
        except ValueError as exc:
            problems.append(f"openaiApi: {exc}.")
    return problems


def function_runtime_env(cfg: StackConfig) -> dict[str, str]:
    """Env vars that configure the function's server and task handling, from the same config as
    the Cloud Run settings they must match."""
    return {
        "THREADS": str(int(cfg.concurrency) + THREAD_HEADROOM),
        "TASKS_DISPATCH_DEADLINE_SECONDS": str(int(cfg.task_dispatch_deadline_seconds)),
    }


def _read(cfg: pulumi.Config, key: Key):
    if key.secret:
        return cfg.get_secret(key.name)
    value = {str: cfg.get, int: cfg.get_int, float: cfg.get_float, bool: cfg.get_bool}[key.kind](key.name)
    return None if value in (None, "") else value


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
    # Keys that go nowhere here (the Slack config tokens) are read once, by _config_token.
    values = {key: _read(cfg, key) for key in KEYS if key.field or key.env}
    settings = {key.field: value for key, value in values.items() if key.field and value is not None}
    if "region" not in settings and gcp.get("region"):
        settings["region"] = gcp.get("region")
    function_env = {key.env: str(value) for key, value in values.items() if key.env and value is not None}
    slack_api_url = (os.environ.get("SLACK_API_URL") or DEFAULT_API_URL).rstrip(
        "/"
    ) + "/"  # one form (infra/slack_app.py api_base_url)
    slack_config_token, slack_config_token_file = _config_token(cfg, slack_api_url)
    stack = defaults(
        gcp.require("project"),
        **settings,
        function_env=function_env,
        slack_config_token=slack_config_token,
        slack_config_token_file=slack_config_token_file,
        slack_api_url=slack_api_url,
    )
    problems = check(stack)
    if problems:
        raise ConfigError("Stack config refused:\n  " + "\n  ".join(problems))
    return stack
