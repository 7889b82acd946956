"""Every environment read of the function, in one place.

The names here are a public contract (README "Configuration"): operators set them in Pulumi,
locally, or in tests. Secrets are *not* read here as values: `SecretStore` resolves the three
secret variables, which hold either a literal or a Secret Manager version name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from .channel_profiles import ChannelProfile, merge_prompts, parse_profiles

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
# Only when the stack manages the Slack app (one-click install, function/teambot/install.py).
OPTIONAL_SECRET_VARS = ("SLACK_CLIENT_SECRET",)
DEFAULT_SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"


def _ids(raw: str) -> frozenset[str]:
    return frozenset(part.strip() for part in raw.split(",") if part.strip())


def _channel_prompts(raw: str) -> dict[str, str]:
    if not raw.strip():
        return {}
    value = json.loads(raw)
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("CHANNEL_PROMPTS must be a JSON object of channel id -> text")
    return value


def _bool(raw: str | None, name: str, default: bool) -> bool:
    if raw is None or not raw.strip():
        return default
    if raw.strip().lower() not in ("true", "false"):
        raise ValueError(f"{name} must be true or false")
    return raw.strip().lower() == "true"


NO_PROFILE = ChannelProfile()


@dataclass(frozen=True)
class Settings:
    slack_api_url: str = DEFAULT_SLACK_API_URL
    openai_model: str = DEFAULT_MODEL
    openai_base_url: str | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    channel_prompts: dict[str, str] = field(default_factory=dict)
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
    update_interval_s: float = 1.0
    slack_timeout_s: float = 10.0
    worker_threads: int = 64
    secret_refs: dict[str, str] = field(default_factory=dict)
    service_name: str | None = None  # K_SERVICE, set by Cloud Run: the function's name
    slack_client_id: str | None = None
    slack_bot_scopes: str = ""
    slack_authorize_url: str = DEFAULT_SLACK_AUTHORIZE_URL

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        get = env.get
        return cls(
            slack_api_url=get("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
            openai_model=get("OPENAI_MODEL") or DEFAULT_MODEL,
            openai_base_url=get("OPENAI_BASE_URL") or None,
            system_prompt=get("SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT,
            channel_prompts=_channel_prompts(get("CHANNEL_PROMPTS", "")),
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
            update_interval_s=float(get("SLACK_UPDATE_INTERVAL_SECONDS") or 1.0),
            slack_timeout_s=float(get("SLACK_TIMEOUT_SECONDS") or 10),
            worker_threads=int(get("WORKER_THREADS") or 64),
            secret_refs={name: get(name, "") for name in SECRET_VARS}
            | {name: get(name) for name in OPTIONAL_SECRET_VARS if get(name)},
            service_name=get("K_SERVICE") or None,
            slack_client_id=get("SLACK_CLIENT_ID") or None,
            slack_bot_scopes=get("SLACK_BOT_SCOPES") or "",
            slack_authorize_url=get("SLACK_AUTHORIZE_URL") or DEFAULT_SLACK_AUTHORIZE_URL,
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
