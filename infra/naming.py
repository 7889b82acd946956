"""Names shared by the Pulumi program, the rotation command and the preflight check (kept free of
heavy imports: the commands import it without pulumi)."""

# The Google APIs the stack enables (infra/apis.py) and the preflight looks up.
REQUIRED_APIS = (
    "cloudfunctions.googleapis.com",
    "run.googleapis.com",
    "cloudbuild.googleapis.com",
    "artifactregistry.googleapis.com",
    "secretmanager.googleapis.com",
    "cloudtasks.googleapis.com",
    "iam.googleapis.com",
    "storage.googleapis.com",
)

SECRET_KINDS = {
    "openai": ("openai-api-key", "OPENAI_API_KEY"),
    "slack-bot-token": ("slack-bot-token", "SLACK_BOT_TOKEN"),
    "slack-signing-secret": ("slack-signing-secret", "SLACK_SIGNING_SECRET"),
}


def secret_id(prefix: str, kind: str) -> str:
    return f"{prefix}-{SECRET_KINDS[kind][0]}"


def generation_suffix(unix_seconds: int) -> str:
    """The suffix of the names Google keeps reserved after a delete (a Cloud Tasks queue up to 7
    days, a Firestore database id minutes): base 36 of the stack's creation time (a
    pulumiverse_time.Static kept in state), so it is stable across updates and new after a
    `pulumi destroy` + `pulumi up`. 6 characters until the year 2038."""
    digits, n, out = "0123456789abcdefghijklmnopqrstuvwxyz", int(unix_seconds), ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out
