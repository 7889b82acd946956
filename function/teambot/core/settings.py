"""Every environment read of the function, in one place.

The names here are a public contract (README "Configuration"): operators set them in Pulumi,
locally, or in tests. Secrets are *not* read here as values: `SecretStore` resolves the three
secret variables, which hold either a literal or a Secret Manager version name.

Why one module: SETTINGS is the one table of every variable the function reads (its parser,
documented default and meaning; SETTING_PARSERS and from_env read it), which the Pulumi program
imports to refuse a bad value at preview and `python -m infra.configure_doc` turns into
docs/configure.md's table; one place keeps the three from drifting.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from teambot.core.profiles import ChannelProfile, McpServer, merge_prompts, parse_mcp_servers, parse_profiles
from teambot.core.suggested_prompts import DEFAULT_SUGGESTED_PROMPTS, MAX_SUGGESTED_PROMPTS, suggested_prompts  # noqa: F401

DEFAULT_MODEL = "gpt-5-mini"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant in a team's Slack workspace. Answer concisely and correctly, "
    "in the language of the question. Use Slack-friendly Markdown: short paragraphs, bullet "
    "lists, fenced code blocks. Several people may speak in one thread; their Slack user ids "
    "prefix their messages. If you are not sure, say so rather than guess."
)
SECRET_VARS = ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "OPENAI_API_KEY")
# Cloud Tasks' own default; the stack sets it from config, above the function timeout.
DEFAULT_TASKS_DISPATCH_DEADLINE_S = 600
# Only when the stack manages the Slack app (one-click install, function/teambot/install/routes.py).
OPTIONAL_SECRET_VARS = ("SLACK_CLIENT_SECRET",)
DEFAULT_SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
# What each local entry point needs before it starts (README "Local run", "Local development").
REQUIRED_VARS = {
    "run": ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "OPENAI_API_KEY"),
    "dev": ("SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "OPENAI_API_KEY"),
}


def _ids(raw: str) -> frozenset[str]:
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _channel_prompts(raw: str) -> dict[str, str]:
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("CHANNEL_PROMPTS must be a JSON object of channel id -> text")
    return value


def _usage_store(raw: str) -> str:
    value = raw.strip().lower() or "memory"
    if value not in ("memory", "firestore"):
        raise ValueError("USAGE_STORE must be memory or firestore")
    return value


def _budget(raw: str) -> int:
    """Tokens per UTC day; unset or 0 = no limit."""
    value = int(raw.strip() or 0)
    if value < 0:
        raise ValueError("a daily token budget must be 0 (no limit) or positive")
    return value


def _model_prices(raw: str) -> dict[str, tuple[float, float]]:
    """JSON {"model": {"input": USD per 1M tokens, "output": USD per 1M tokens}}."""
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("MODEL_PRICES must be a JSON object of model -> {input, output}")
    prices = {}
    for model, price in value.items():
        if not isinstance(price, dict) or not all(isinstance(price.get(k), (int, float)) for k in ("input", "output")):
            raise ValueError(f'MODEL_PRICES[{model!r}] must be {{"input": number, "output": number}}')
        prices[str(model)] = (float(price["input"]), float(price["output"]))
    return prices


OPENAI_APIS = ("responses", "chat_completions")


def _openai_api(raw: str | None, base_url: str | None) -> str:
    """OPENAI_API: responses (OpenAI itself, the default without OPENAI_BASE_URL) or
    chat_completions (the default for other OpenAI-compatible endpoints, which often lack the
    Responses API)."""
    value = (raw or "").strip().lower()
    if not value:
        return "chat_completions" if base_url else "responses"
    if value not in OPENAI_APIS:
        raise ValueError("OPENAI_API must be responses or chat_completions")
    return value


def _on_off(raw: str | None, name: str, default: bool) -> bool:
    value = (raw or "").strip().lower()
    if not value:
        return default
    if value not in ("on", "off"):
        raise ValueError(f"{name} must be on or off")
    return value == "on"


def check_tools_api(settings) -> None:
    """Hosted tools exist only on the Responses API: configuring them with chat_completions is an
    error that names the variables, not a silently ignored setting."""
    if settings.openai_api != "chat_completions":
        return
    if settings.web_search or settings.mcp_servers:
        raise ValueError("WEB_SEARCH=on and MCP_SERVERS need OPENAI_API=responses (hosted tools are a Responses API feature)")
    for channel, profile in settings.channel_profiles.items():
        hosted = [
            key
            for key, used in (
                ("web_search", profile.web_search),
                ("mcp_servers", profile.mcp_servers),
                ("file_search", profile.file_search),
                ("code_interpreter", profile.code_interpreter),
            )
            if used
        ]
        if hosted:
            raise ValueError(
                f"channel profile {channel!r}: {' / '.join(hosted)} need{'s' if len(hosted) == 1 else ''} OPENAI_API=responses "
                "(hosted tools are a Responses API feature)"
            )


def missing_vars(entry: str, environ: dict[str, str] | None = None) -> list[str]:
    """The variables `entry` ("run" or "dev") needs that are unset or empty."""
    env = os.environ if environ is None else environ
    return [name for name in REQUIRED_VARS[entry] if not (env.get(name) or "").strip()]


def missing_message(entry: str, readme_section: str, environ: dict[str, str] | None = None) -> str | None:
    """One line naming the first missing variable of `entry` ("run"/"dev"), or None when all are set."""
    missing = missing_vars(entry, environ)
    if not missing:
        return None
    return (
        f'teambot: {missing[0]} is not set (make {entry} needs {", ".join(REQUIRED_VARS[entry])}; see README "{readme_section}")'
    )


def slack_app_token(environ: dict[str, str] | None = None) -> str:
    """SLACK_APP_TOKEN: the app-level token (xapp-...) Socket Mode connects with; local use only."""
    env = os.environ if environ is None else environ
    return (env.get("SLACK_APP_TOKEN") or "").strip()


def local_listen(environ: dict[str, str] | None = None) -> tuple[str, int]:
    """HOST and PORT of `make run` (127.0.0.1:8080 by default)."""
    env = os.environ if environ is None else environ
    return env.get("HOST") or "127.0.0.1", int(env.get("PORT") or 8080)


def _bool(raw: str | None, name: str, default: bool) -> bool:
    if raw is None or not raw.strip():
        return default
    if raw.strip().lower() not in ("true", "false"):
        raise ValueError(f"{name} must be true or false")
    return raw.strip().lower() == "true"


def _team_ids_or_all(raw: str) -> frozenset[str]:
    """ALLOWED_EXTERNAL_TEAM_IDS: comma list of team / enterprise ids (T..., E...), or `*` (all)."""
    ids = _ids(raw)
    if "*" in ids and len(ids) > 1:
        raise ValueError("use either * (all external teams) or a list of team ids, not both")
    for part in ids - {"*"}:
        if not part.isalnum() or part[0] not in "TE":
            raise ValueError(f"{part!r} is not a Slack team id (T...) or enterprise id (E...)")
    return ids


# -- start-up validation ------------------------------------------------------------------------
# Every setting's parser, by variable, so a bad value stops the process at start with ONE line that
# names the variable (Cloud Run then keeps serving the previous revision), never at the first
# request. infra/config.py check() runs these same parsers at `pulumi preview` (settings_problems).
class SettingError(ValueError):
    """A setting the function refuses; the message names the variable and what is wrong."""

    def __init__(self, name: str, why: str):
        super().__init__(f"{name}: {why}")
        self.name = name
        self.why = why


def _number(kind: type, *, minimum: float | None = None, positive: bool = False):
    def parse(raw: str):
        try:
            value = kind(raw.strip())
        except ValueError:
            raise ValueError(f"must be {'an integer' if kind is int else 'a number'}, got {raw.strip()[:40]!r}") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"must be a finite number, got {raw.strip()[:40]!r}")
        if positive and value <= 0:
            raise ValueError(f"must be greater than 0, got {raw.strip()[:40]}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be at least {minimum}, got {raw.strip()[:40]}")
        return value

    return parse


# -- the table of settings --------------------------------------------------------------------
# Every environment variable the function reads (and the few its libraries read on its behalf), in
# one table: its parser (when it has one, so a bad value stops the process at start) and the text of
# docs/configure.md "Function environment", which `python -m infra.configure_doc` generates from it.
# infra/config.py links each Pulumi key to a row here by `env`. tests/unit/test_setting_table.py fails
# when the function reads a variable missing here.
@dataclass(frozen=True)
class Setting:
    """One row: `name` (and `also`, variables documented in the same row), the default as shown in
    the docs (Markdown), what it means (Markdown), and the parser the start-up check runs."""

    name: str
    default: str
    meaning: str
    parser: Callable[[str], object] | None = None
    also: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.also)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "SLACK_SIGNING_SECRET",
        "—",
        "a literal value, or a Secret Manager version name `projects/P/secrets/S/versions/latest`",
        also=("SLACK_BOT_TOKEN", "OPENAI_API_KEY"),
    ),
    Setting(
        "SLACK_CLIENT_ID",
        "unset",
        "the Slack app's client id (literal); with `SLACK_CLIENT_SECRET`, `SLACK_BOT_SCOPES`, `FUNCTION_URL` and a Secret Manager `SLACK_BOT_TOKEN`, enables `/slack/install`",
    ),
    Setting("SLACK_CLIENT_SECRET", "unset", "the app's client secret: a literal or a Secret Manager version name"),
    Setting(
        "SLACK_BOT_SCOPES", "unset", "comma-separated bot scopes requested at install (the stack sets them from the manifest)"
    ),
    Setting("SLACK_AUTHORIZE_URL", "`https://slack.com/oauth/v2/authorize`", "Slack's authorize page (tests point it elsewhere)"),
    Setting("OPENAI_MODEL", "`gpt-5-mini`", "model name"),
    Setting("OPENAI_BASE_URL", "OpenAI", "any OpenAI-compatible endpoint (read by the openai SDK)"),
    Setting("SYSTEM_PROMPT", "built in", "replaces the default instructions"),
    Setting(
        "CHANNEL_PROMPTS",
        "`{}`",
        "JSON object channel id → extra instructions (a translation channel, a data channel…); each is a profile with only `instructions`",
        parser=_channel_prompts,
    ),
    Setting(
        "CHANNEL_PROFILES",
        "`{}`",
        "JSON object channel id → profile (see [Channel profiles](#channel-profiles)); invalid: the function answers nothing (each request fails, its log names channel and key); `pulumi preview` refuses it first",
        parser=parse_profiles,
    ),
    Setting(
        "VISION_ENABLED",
        "`true`",
        "`true`/`false`: images shared in a conversation go to the model; `false`: they are not read, and the answer says so",
        parser=lambda raw: _bool(raw, "VISION_ENABLED", True),
    ),
    Setting(
        "MAX_FILE_BYTES",
        "`10000000`",
        "a file larger than this (by its declared size) is skipped without being downloaded; a download also stops here",
        parser=_number(int, positive=True),
    ),
    Setting(
        "MAX_FILES",
        "`8`",
        "files read per answer, newest first; the others are skipped with a note",
        parser=_number(int, minimum=0),
    ),
    Setting(
        "MAX_CONTEXT_TOKENS",
        "`24000`",
        "thread history budget (estimate); oldest turns are dropped first",
        parser=_number(int, positive=True),
    ),
    Setting("MAX_ANSWER_TOKENS", "unset", "`max_completion_tokens` per answer", parser=_number(int, positive=True)),
    Setting(
        "MODEL_TIMEOUT_SECONDS",
        "`60`",
        "longest silence from the model before the answer fails with a visible error",
        parser=_number(float, positive=True),
    ),
    Setting("ALLOWED_TEAM_IDS", "all", "comma-separated; other teams get nothing at all"),
    Setting("ALLOWED_CHANNEL_IDS", "all", "comma-separated; `im` allows every DM; refused users get a short explanation"),
    Setting("ALLOWED_USER_IDS", "all", "comma-separated; refused users get a short explanation"),
    Setting(
        "ALLOWED_EXTERNAL_TEAM_IDS",
        "none",
        'Slack Connect: comma-separated team / enterprise ids (`T...`, `E...`) of other organizations whose members are answered; `*` = all. Strangers otherwise get nothing ([SECURITY.md](../SECURITY.md), "Slack Connect")',
        parser=_team_ids_or_all,
    ),
    Setting("SLACK_API_URL", "`https://slack.com/api/`", "Slack Web API base URL"),
    Setting(
        "SLACK_UPDATE_INTERVAL_SECONDS",
        "`1.0`",
        'least time between two writes to one message (the write budget lengthens it when many answers share a method: [design.md, "Platform notes: Slack rate limits"](design.md#platform-notes-slack-rate-limits))',
        parser=_number(float, minimum=0),
    ),
    Setting(
        "SLACK_STREAM_MAX_AGE_SECONDS",
        "`240`",
        "a native stream is closed after this and the answer goes on in a new message (Slack ends streams after ~300 s)",
        parser=_number(float, positive=True),
    ),
    Setting("TASKS_QUEUE", "unset", "`projects/P/locations/L/queues/Q`: use Cloud Tasks; unset = in-process"),
    Setting("TASKS_INVOKER_SA", "—", "the service account Cloud Tasks signs OIDC tokens as"),
    Setting(
        "TASKS_DISPATCH_DEADLINE_SECONDS",
        "`600`",
        "`dispatchDeadline` of every task: how long Cloud Tasks waits for one answer before it counts the attempt as failed and may deliver it again (15–1800). The stack sets it from `taskDispatchDeadlineSeconds` and refuses a `timeoutSeconds` less than 30 s below it",
        parser=_number(int, positive=True),
    ),
    Setting(
        "THREADS",
        "`os.cpu_count() * 4`",
        "read by functions-framework (gunicorn threads). The stack sets `concurrency + 4`, so a new event is never queued behind answers that hold their requests (`infra.config.function_runtime_env`)",
    ),
    Setting("FUNCTION_URL", "—", "the function's URL: task target and OIDC audience"),
    Setting(
        "SECRET_TTL_SECONDS",
        "`600`",
        "after this, the next use re-reads a secret in the background",
        parser=_number(float, minimum=0),
    ),
    Setting("WORKER_THREADS", "`64`", "in-process worker threads", parser=_number(int, positive=True)),
    Setting(
        "SUGGESTED_PROMPTS",
        "4 built in",
        'JSON list (at most 4) of strings or `{"title", "message"}`: the AI panel\'s suggested prompts (`assistant.threads.setSuggestedPrompts`); Pulumi config `suggestedPrompts` sets it and the manifest\'s `assistant_view`',
        parser=suggested_prompts,
    ),
    Setting(
        "SLACK_APP_TOKEN",
        "—",
        "`make dev` only: the app-level token (`xapp-`, scope `connections:write`) Socket Mode connects with",
    ),
    Setting("HOST", "`127.0.0.1`, `8080`", "`make run` only: where the local HTTP server listens", also=("PORT",)),
    Setting(
        "WORKERS",
        "`1`",
        "gunicorn worker processes (read by functions-framework); the write budget gives each process 1/`WORKERS` of Slack's tiers. Keep 1 on a 1-vCPU instance ([BENCHMARKS.md](../BENCHMARKS.md), busy hour)",
        parser=_number(int, positive=True),
    ),
    Setting(
        "SECRET_MANAGER_ENDPOINT",
        "Google's",
        "emulators for tests and local runs only; never set in a deployment (an `http://` endpoint gets no Google token off Cloud Run)",
        also=("CLOUD_TASKS_ENDPOINT", "OIDC_CERTS_URL"),
    ),
    Setting(
        "K_SERVICE",
        "set by Cloud Run",
        "the service (function) name: routes are accepted with or without a leading `/<K_SERVICE>`, and Google API calls take the runtime service account's token from the metadata server; unset, from google-auth's Application Default Credentials",
    ),
    Setting(
        "GCE_METADATA_HOST",
        "`metadata.google.internal`",
        "the metadata server (google-auth's own variable); tests point it at a fake",
    ),
    Setting("SLACK_TIMEOUT_SECONDS", "`10`", "timeout of one Slack Web API call", parser=_number(float, positive=True)),
    Setting(
        "USAGE_STORE",
        "`memory`",
        "where usage counters live: `memory` (this process only; the local default) or `firestore` (set by Pulumi)",
        parser=_usage_store,
    ),
    Setting("FIRESTORE_DATABASE", "`(default)`", "the Firestore database of the usage ledger (Pulumi sets `<name>-usage`)"),
    Setting(
        "DAILY_TOKEN_BUDGET_PER_USER",
        "unset",
        "prompt + completion tokens one person may use per UTC day; unset or `0` = no limit",
        parser=_number(int, minimum=0),
    ),
    Setting("DAILY_TOKEN_BUDGET_PER_TEAM", "unset", "the same for the whole workspace", parser=_number(int, minimum=0)),
    Setting(
        "MODEL_PRICES",
        "gpt-5-mini built in",
        'JSON `{"model": {"input": USD per 1M tokens, "output": USD per 1M tokens}}`, added to / overriding the built-in price',
        parser=_model_prices,
    ),
    Setting("ADMIN_USER_IDS", "none", "comma-separated user ids who also see the top users on the Home tab"),
    Setting("FIRESTORE_EMULATOR_HOST", "unset", "tests and local runs only: the Firestore emulator (read by the client library)"),
    Setting(
        "OPENAI_API",
        "`responses` without `OPENAI_BASE_URL`, else `chat_completions`",
        'which OpenAI API answers: `responses` (hosted tools: web search, MCP) or `chat_completions` (any OpenAI-compatible server); see [use.md, "Web search and tools"](use.md#web-search-and-tools)',
    ),
    Setting(
        "WEB_SEARCH",
        "`off`",
        "`on`: answers may use the hosted `web_search` tool (Responses API only); a profile's `web_search` overrides it per channel",
    ),
    Setting(
        "MCP_SERVERS",
        "none",
        'JSON list of remote MCP servers the model may call (Responses API only), see [use.md, "Web search and tools"](use.md#web-search-and-tools); invalid: every request fails naming `MCP_SERVERS`, `pulumi preview` refuses `mcpServers` first',
    ),
    Setting(
        "MCP_APPROVAL_TTL_SECONDS",
        "`600`",
        "an MCP tool-call approval prompt nobody answers expires after this: its buttons go, the answer ends politely (a scheduled job: a Cloud Tasks `scheduleTime`, or a timer when run locally)",
        parser=_number(float, positive=True),
    ),
)
SETTINGS_BY_NAME = {name: setting for setting in SETTINGS for name in setting.names}
SETTING_PARSERS = {setting.name: setting.parser for setting in SETTINGS if setting.parser}


def _why(name: str, exc: Exception) -> str:
    """The parser's message without a repeated variable name ("X must be..." -> "must be...")."""
    text = str(exc).strip().rstrip(".")
    for prefix in (name + ": ", name + " "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def settings_problems(environ: dict[str, str] | None = None) -> list[SettingError]:
    """Every set variable whose value its parser refuses (empty = all fine)."""
    env = os.environ if environ is None else environ
    problems = []
    for name, parse in SETTING_PARSERS.items():
        raw = env.get(name)
        if raw is None or not raw.strip():
            continue
        try:
            parse(raw)
        except (ValueError, TypeError) as exc:  # json.JSONDecodeError and ProfileError are ValueErrors
            problems.append(SettingError(name, _why(name, exc)))
    return problems


def load_settings(environ: dict[str, str] | None = None) -> "Settings":
    """Settings.from_env, or SettingError naming the first refused variable."""
    problems = settings_problems(environ)
    if problems:
        raise problems[0]
    try:
        return Settings.from_env(environ)
    except (ValueError, TypeError) as exc:  # a setting without a parser in the table
        raise SettingError("settings", str(exc)[:200]) from None


NO_PROFILE = ChannelProfile()


@dataclass(frozen=True)
class Settings:
    slack_api_url: str = DEFAULT_SLACK_API_URL
    openai_model: str = DEFAULT_MODEL
    openai_base_url: str | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    channel_profiles: dict[str, ChannelProfile] = field(default_factory=dict)  # CHANNEL_PROMPTS merged in
    vision_enabled: bool = True
    max_file_bytes: int = 10_000_000  # a file larger than this is skipped, never downloaded
    max_files: int = 8  # files read per answer, newest first
    max_context_tokens: int = 24_000
    max_answer_tokens: int | None = None
    model_timeout_s: float = 60.0
    tasks_queue: str | None = None
    tasks_invoker_sa: str | None = None
    tasks_dispatch_deadline_s: int = DEFAULT_TASKS_DISPATCH_DEADLINE_S
    function_url: str | None = None
    cloud_tasks_endpoint: str = "https://cloudtasks.googleapis.com"
    oidc_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    secret_manager_endpoint: str | None = None
    secret_ttl_s: float = 600.0
    allowed_team_ids: frozenset[str] = frozenset()
    allowed_channel_ids: frozenset[str] = frozenset()
    allowed_user_ids: frozenset[str] = frozenset()
    # Slack Connect: external teams answered (access.py, SECURITY.md); "*" = every team.
    allowed_external_team_ids: frozenset[str] = frozenset()
    update_interval_s: float = 1.0
    slack_timeout_s: float = 10.0
    stream_max_age_s: float = 240.0  # close a native stream before Slack ends it (~300 s)
    worker_threads: int = 64
    server_workers: int = 1  # WORKERS: gunicorn worker processes (functions-framework reads it too)
    secret_refs: dict[str, str] = field(default_factory=dict)
    service_name: str | None = None  # K_SERVICE, set by Cloud Run: the function's name
    slack_client_id: str | None = None
    slack_bot_scopes: str = ""
    slack_authorize_url: str = DEFAULT_SLACK_AUTHORIZE_URL
    # Usage ledger and budgets (README "Usage and budgets"); 0 = no limit.
    usage_store: str = "memory"
    firestore_database: str = "(default)"
    daily_token_budget_per_user: int = 0
    daily_token_budget_per_team: int = 0
    model_prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    admin_user_ids: frozenset[str] = frozenset()
    suggested_prompts: tuple[dict[str, str], ...] = DEFAULT_SUGGESTED_PROMPTS
    # Responses API and hosted tools (README "Web search and tools"): model_tools.py.
    openai_api: str = ""  # OPENAI_API: responses | chat_completions ("" here: by openai_base_url, as from_env)
    web_search: bool = False  # WEB_SEARCH: on | off (per channel: profile `web_search`)
    mcp_servers: tuple[McpServer, ...] = ()  # MCP_SERVERS (per channel: profile `mcp_servers`)
    mcp_approval_ttl_s: float = 600.0  # MCP_APPROVAL_TTL_SECONDS: an unanswered approval prompt expires

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        settings = cls._from_env(environ)
        check_tools_api(settings)
        return settings

    @classmethod
    def _from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ

        def get(name: str, default: str | None = None) -> str | None:
            # Only variables of the table: a new one cannot be read without its documented row.
            if name not in SETTINGS_BY_NAME:
                raise LookupError(f"{name} is read by Settings.from_env but missing from settings.SETTINGS")
            return env.get(name, default)

        return cls(
            slack_api_url=get("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            openai_model=get("OPENAI_MODEL") or DEFAULT_MODEL,
            openai_base_url=get("OPENAI_BASE_URL") or None,
            system_prompt=get("SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT,
            channel_profiles=merge_prompts(
                parse_profiles(get("CHANNEL_PROFILES", "")), _channel_prompts(get("CHANNEL_PROMPTS", ""))
            ),
            vision_enabled=_bool(get("VISION_ENABLED"), "VISION_ENABLED", True),
            max_file_bytes=int(get("MAX_FILE_BYTES") or 10_000_000),
            max_files=int(get("MAX_FILES") or 8),
            max_context_tokens=int(get("MAX_CONTEXT_TOKENS") or 24_000),
            max_answer_tokens=int(get("MAX_ANSWER_TOKENS")) if get("MAX_ANSWER_TOKENS") else None,
            model_timeout_s=float(get("MODEL_TIMEOUT_SECONDS") or 60),
            tasks_queue=get("TASKS_QUEUE") or None,
            tasks_invoker_sa=get("TASKS_INVOKER_SA") or None,
            tasks_dispatch_deadline_s=int(get("TASKS_DISPATCH_DEADLINE_SECONDS") or DEFAULT_TASKS_DISPATCH_DEADLINE_S),
            function_url=(get("FUNCTION_URL") or "").rstrip("/") or None,
            cloud_tasks_endpoint=(get("CLOUD_TASKS_ENDPOINT") or cls.cloud_tasks_endpoint).rstrip("/"),
            oidc_certs_url=get("OIDC_CERTS_URL") or cls.oidc_certs_url,
            secret_manager_endpoint=get("SECRET_MANAGER_ENDPOINT") or None,
            secret_ttl_s=float(get("SECRET_TTL_SECONDS") or 600),
            allowed_team_ids=_ids(get("ALLOWED_TEAM_IDS", "")),
            allowed_channel_ids=_ids(get("ALLOWED_CHANNEL_IDS", "")),
            allowed_user_ids=_ids(get("ALLOWED_USER_IDS", "")),
            allowed_external_team_ids=_team_ids_or_all(get("ALLOWED_EXTERNAL_TEAM_IDS", "")),
            update_interval_s=float(get("SLACK_UPDATE_INTERVAL_SECONDS") or 1.0),
            slack_timeout_s=float(get("SLACK_TIMEOUT_SECONDS") or 10),
            stream_max_age_s=float(get("SLACK_STREAM_MAX_AGE_SECONDS") or 240),
            worker_threads=int(get("WORKER_THREADS") or 64),
            server_workers=max(1, int(get("WORKERS") or 1)),
            secret_refs={name: get(name, "") for name in SECRET_VARS}
            | {name: get(name) for name in OPTIONAL_SECRET_VARS if get(name)},
            service_name=get("K_SERVICE") or None,
            slack_client_id=get("SLACK_CLIENT_ID") or None,
            slack_bot_scopes=get("SLACK_BOT_SCOPES") or "",
            slack_authorize_url=get("SLACK_AUTHORIZE_URL") or DEFAULT_SLACK_AUTHORIZE_URL,
            usage_store=_usage_store(get("USAGE_STORE", "")),
            firestore_database=get("FIRESTORE_DATABASE") or "(default)",
            daily_token_budget_per_user=_budget(get("DAILY_TOKEN_BUDGET_PER_USER", "")),
            daily_token_budget_per_team=_budget(get("DAILY_TOKEN_BUDGET_PER_TEAM", "")),
            model_prices=_model_prices(get("MODEL_PRICES", "")),
            admin_user_ids=_ids(get("ADMIN_USER_IDS", "")),
            suggested_prompts=suggested_prompts(get("SUGGESTED_PROMPTS", "")),
            openai_api=_openai_api(get("OPENAI_API"), get("OPENAI_BASE_URL") or None),
            web_search=_on_off(get("WEB_SEARCH"), "WEB_SEARCH", False),
            mcp_servers=parse_mcp_servers(get("MCP_SERVERS", ""), source="MCP_SERVERS"),
            mcp_approval_ttl_s=float(get("MCP_APPROVAL_TTL_SECONDS") or 600),
        )

    def profile(self, channel: str) -> ChannelProfile:
        return self.channel_profiles.get(channel, NO_PROFILE)

    def model_options(self, channel: str) -> dict:
        """The channel profile's overrides of the model call (ModelOps.stream keyword arguments)."""
        p = self.profile(channel)
        options = {"model": p.model, "max_answer_tokens": p.max_answer_tokens, "reasoning_effort": p.reasoning_effort}
        return {k: v for k, v in options.items() if v is not None}


def metadata_server_host(environ: dict[str, str] | None = None) -> str | None:
    """On Cloud Run (it sets K_SERVICE), the metadata server that hands out the runtime service
    account's token: GCE_METADATA_HOST (google-auth's own override; tests point it at a fake) or
    metadata.google.internal. None elsewhere: google-auth's Application Default Credentials."""
    env = os.environ if environ is None else environ
    if not env.get("K_SERVICE"):
        return None
    return env.get("GCE_METADATA_HOST") or "metadata.google.internal"
