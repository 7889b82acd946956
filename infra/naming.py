"""Resource names shared by the Pulumi program and the rotation command."""

SECRET_KINDS = {
    "openai": ("openai-api-key", "OPENAI_API_KEY"),
    "slack-bot-token": ("slack-bot-token", "SLACK_BOT_TOKEN"),
    "slack-signing-secret": ("slack-signing-secret", "SLACK_SIGNING_SECRET"),
}


def secret_id(prefix: str, kind: str) -> str:
    return f"{prefix}-{SECRET_KINDS[kind][0]}"
