"""Every environment read of the function, in one place.

The names here are a public contract (README "Configuration"): operators set them in Pulumi,
locally, or in tests. Secrets are *not* read here as values: `SecretStore` resolves the three
secret variables, which hold either a literal or a Secret Manager version name.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

DEFAULT_MODEL = "gpt-5-mini"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful assistant in a team's Slack workspace. Answer concisely and correctly, "
    "in the language of the question. Use Slack-friendly Markdown: short paragraphs, bullet "
    "lists, fenced code blocks. Several people may speak in one thread; their Slack user ids "
    "prefix their messages. If you are not sure, say so rather than guess."
)
SECRET_VARS = ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "OPENAI_API_KEY")


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


@dataclass(frozen=True)
class Settings:
    slack_api_url: str = DEFAULT_SLACK_API_URL
    openai_model: str = DEFAULT_MODEL
    openai_base_url: str | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    channel_prompts: dict[str, str] = field(default_factory=dict)
    max_context_tokens: int = 24_000
    max_answer_tokens: int | None = None
    model_timeout_s: float = 60.0
    tasks_queue: str | None = None
    tasks_invoker_sa: str | None = None
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
    server_workers: int = 1  # WORKERS: gunicorn worker processes (functions-framework reads it too)
    secret_refs: dict[str, str] = field(default_factory=dict)
    service_name: str | None = None  # K_SERVICE, set by Cloud Run: the function's name

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
            max_context_tokens=int(get("MAX_CONTEXT_TOKENS") or 24_000),
            max_answer_tokens=int(get("MAX_ANSWER_TOKENS")) if get("MAX_ANSWER_TOKENS") else None,
            model_timeout_s=float(get("MODEL_TIMEOUT_SECONDS") or 60),
            tasks_queue=get("TASKS_QUEUE") or None,
            tasks_invoker_sa=get("TASKS_INVOKER_SA") or None,
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
            server_workers=max(1, int(get("WORKERS") or 1)),
            secret_refs={name: get(name, "") for name in SECRET_VARS},
            service_name=get("K_SERVICE") or None,
        )
