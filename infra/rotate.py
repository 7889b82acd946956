"""Rotate one of the bot's keys: `python -m infra.rotate <openai|slack-bot-token|slack-signing-secret>`.

Reads the new value from stdin (never from argv, so it stays out of shell history), adds it as a
new Secret Manager version, checks that it works (OpenAI: list models; Slack bot token:
auth.test) and only then disables the older versions. On a failed check the older versions stay
enabled, the new one is disabled, and the command says so and exits 1. The running function
picks the new version up by itself (see README "Rotating keys"); no redeploy, no restart.

The signing secret cannot be checked from here (Slack only uses it to sign requests), so older
versions stay enabled; the function verifies with `latest` either way.
"""

from __future__ import annotations

import argparse
import os
import sys

from infra.naming import SECRET_KINDS, secret_id

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_NO_ACCESS = 0, 1, 2, 3
NO_CREDENTIALS = (
    "no usable Google credentials ({kind}): run `gcloud auth application-default login` "
    "(or point GOOGLE_APPLICATION_CREDENTIALS at a service account key file) and try again"
)


def check_openai(value: str) -> str | None:
    import openai

    try:
        openai.OpenAI(api_key=value, max_retries=0, timeout=15).models.list()
    except openai.APIError as exc:
        return f"OpenAI refused the key ({type(exc).__name__})"
    return None


def check_slack_bot_token(value: str) -> str | None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    try:
        WebClient(
            token=value, base_url=(os.environ.get("SLACK_API_URL") or "https://slack.com/api/").rstrip("/") + "/"
        ).auth_test()
    except SlackApiError as exc:
        return f"Slack auth.test refused the token ({exc.response.get('error')})"
    return None


CHECKS = {"openai": check_openai, "slack-bot-token": check_slack_bot_token, "slack-signing-secret": None}


def secret_client():
    from google.cloud.secretmanager_v1 import SecretManagerServiceClient

    endpoint = os.environ.get("SECRET_MANAGER_ENDPOINT")
    if endpoint:  # a local emulator (tests)
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        return SecretManagerServiceClient(
            transport="rest", credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=endpoint)
        )
    return SecretManagerServiceClient()


def rotate(kind: str, value: str, *, project: str, prefix: str, client=None, out=sys.stdout) -> int:
    client = client or secret_client()
    parent = f"projects/{project}/secrets/{secret_id(prefix, kind)}"
    new = client.add_secret_version(request={"parent": parent, "payload": {"data": value.encode()}})
    print(f"added {new.name}", file=out)
    check = CHECKS[kind]
    if check is None:
        print("no online check exists for this key; older versions left enabled", file=out)
        return EXIT_OK
    problem = check(value)
    if problem:
        client.disable_secret_version(request={"name": new.name})
        print(f"check failed: {problem}. Disabled {new.name}; the previous version stays in use.", file=out)
        return EXIT_CHECK_FAILED
    for version in client.list_secret_versions(request={"parent": parent}):
        if version.name != new.name and version.state.name == "ENABLED":
            client.disable_secret_version(request={"name": version.name})
            print(f"disabled {version.name}", file=out)
    print("check passed; the function picks the new key up without a redeploy", file=out)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.rotate", description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(SECRET_KINDS))
    parser.add_argument("--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT"), help="GCP project id")
    parser.add_argument("--prefix", default="slack-bot", help="the stack's `name` config (default slack-bot)")
    args = parser.parse_args(argv)
    if not args.project:
        parser.error("--project (or GOOGLE_CLOUD_PROJECT) is required")
    value = sys.stdin.read().strip()
    if not value:
        print("no value on stdin", file=sys.stderr)
        return EXIT_USAGE
    try:
        return rotate(args.kind, value, project=args.project, prefix=args.prefix)
    except Exception as exc:  # one clear line for the failures a new user meets, not a traceback
        problem = access_problem(exc)
        if problem is None:
            raise
        print(problem, file=sys.stderr)
        return EXIT_NO_ACCESS


def access_problem(exc: Exception) -> str | None:
    from google.api_core.exceptions import GoogleAPICallError
    from google.auth.exceptions import DefaultCredentialsError, RefreshError, TransportError

    if isinstance(exc, (DefaultCredentialsError, RefreshError, TransportError)):
        return NO_CREDENTIALS.format(kind=type(exc).__name__)
    if isinstance(exc, GoogleAPICallError):
        return (
            f"Secret Manager refused the call ({exc.code} {type(exc).__name__}): check --project, --prefix and "
            "that your account may add versions to the secret"
        )
    return None


if __name__ == "__main__":
    sys.exit(main())
