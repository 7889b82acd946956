"""One-click install: GET /slack/install and GET /slack/oauth_redirect (Slack OAuth v2).

  /slack/install         302 to Slack's authorize URL: client id, the manifest's bot scopes
                         (SLACK_BOT_SCOPES), redirect_uri, a signed single-use state (oauth_state.py)
  /slack/oauth_redirect  state checked -> code exchanged with oauth.v2.access (same redirect_uri)
                         -> bot token written as a new version of the bot-token secret -> the
                         running process re-reads it (SecretStore.refresh) -> a page linking to the DM

Every refusal (Slack's ?error=access_denied, forged/expired/replayed state, refused exchange) is
a short 4xx page and writes nothing. Without SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_BOT_SCOPES,
FUNCTION_URL or a Secret Manager bot-token secret to write to, both routes answer 404 "install
not configured" (the manual path, local runs). slack_sdk.web and the Secret Manager client are
imported here only on first use: never on the Slack ack path.
"""

from __future__ import annotations

import html
import re
import threading
from urllib.parse import urlencode

from teambot.core import logs
from teambot.core.settings import Settings
from teambot.gcp.secret_store import SecretStore, is_placeholder
from teambot.install.oauth_state import STATE_TTL_S, OAuthStates, StateRejected

INSTALL_ROUTE = "/slack/install"
REDIRECT_ROUTE = "/slack/oauth_redirect"
INSTALL_PATHS = (INSTALL_ROUTE, REDIRECT_ROUTE)
CLIENT_SECRET = "SLACK_CLIENT_SECRET"
BOT_TOKEN = "SLACK_BOT_TOKEN"
NONCE_COOKIE = "teambot_install_nonce"
SLACK_ERROR_CODE = re.compile(r"^[a-z_]{1,40}$")  # what we echo of Slack's ?error=: never free text


def page(status: int, title: str, text: str, link: tuple[str, str] | None = None, headers: dict | None = None):
    body = f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
    if link:
        body += f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>'
    return (
        body,
        status,
        {
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "Set-Cookie": f"{NONCE_COOKIE}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax",
            **(headers or {}),
        },
    )


class InstallRoutes:
    def __init__(self, settings: Settings, secrets: SecretStore):
        self.settings = settings
        self.secrets = secrets
        self._states: tuple[str, OAuthStates] | None = None  # (client secret it was derived from, states)
        self._lock = threading.Lock()
        self._sm_client = None

    @property
    def redirect_uri(self) -> str:
        return f"{self.settings.function_url}{REDIRECT_ROUTE}"

    def handle(self, request):
        if request.method != "GET":
            return page(405, "Method not allowed", "Open this address in a browser.")
        s = self.settings
        if not (
            s.slack_client_id
            and s.slack_bot_scopes
            and s.function_url
            and self.secrets.is_managed(BOT_TOKEN)
            and s.secret_refs.get(CLIENT_SECRET)
        ):
            return page(
                404,
                "Install not configured",
                'install not configured: this deployment installs the Slack app by hand (see README "Deploy").',
            )
        client_secret = self.secrets.get(CLIENT_SECRET)
        if is_placeholder(client_secret):
            return page(404, "Install not configured", "install not configured: the client secret is not set.")
        if request.path == INSTALL_ROUTE:
            return self._start(client_secret)
        return self._finish(request, client_secret)

    def _oauth_states(self, client_secret: str) -> OAuthStates:
        with self._lock:  # one used-nonce set per instance, rebuilt only if the client secret changes
            if self._states is None or self._states[0] != client_secret:
                self._states = (client_secret, OAuthStates.for_client_secret(client_secret))
            return self._states[1]

    def _start(self, client_secret: str):
        state, nonce = self._oauth_states(client_secret).issue()
        query = urlencode(
            {
                "client_id": self.settings.slack_client_id,
                "scope": self.settings.slack_bot_scopes,
                "redirect_uri": self.redirect_uri,
                "state": state,
            }
        )
        cookie = f"{NONCE_COOKIE}={nonce}; Max-Age={int(STATE_TTL_S)}; Path=/; HttpOnly; Secure; SameSite=Lax"
        return (
            "",
            302,
            {"Location": f"{self.settings.slack_authorize_url}?{query}", "Set-Cookie": cookie, "Cache-Control": "no-store"},
        )

    def _finish(self, request, client_secret: str):
        args = request.args
        if args.get("error"):  # the user clicked Cancel (access_denied), or Slack refused the request
            code = args["error"] if SLACK_ERROR_CODE.match(args["error"]) else "unknown"
            logs.warning("install_refused", outcome="slack_error", error=code)
            status = 403 if code == "access_denied" else 400
            return page(status, "Not installed", f"Slack did not install the app ({code}). Nothing was changed.")
        if not args.get("code") or not args.get("state"):
            return page(400, "Not installed", "The address is missing Slack's code or state. Open the install URL again.")
        try:
            self._oauth_states(client_secret).redeem(args["state"], request.cookies.get(NONCE_COOKIE))
        except StateRejected as refused:
            logs.warning("install_refused", outcome="bad_state", status=refused.status)
            return page(refused.status, "Not installed", f"Not installed: {refused.reason}. Nothing was changed.")
        granted = self._exchange(args["code"], client_secret)
        if isinstance(granted, tuple):
            return granted  # a refusal page
        team = (granted.get("team") or {}).get("id") or ""
        if self.settings.allowed_team_ids and team not in self.settings.allowed_team_ids:
            logs.warning("install_refused", outcome="team_not_allowed", team=team)
            return page(403, "Not installed", "This workspace is not in ALLOWED_TEAM_IDS. Nothing was changed.")
        try:
            self._write_bot_token(granted["access_token"])
        except Exception as exc:  # the client raises many types; never echo details
            logs.failed("install_failed", exc, severity="ERROR", outcome="secret_write_failed", code=getattr(exc, "code", None))
            return page(
                503,
                "Not installed",
                "Slack granted the token but it could not be saved to Secret Manager "
                "(does the runtime identity have secretVersionAdder on the bot-token secret?). Try again.",
            )
        self.secrets.refresh(BOT_TOKEN)  # this process answers with the new token from now on
        app_id = granted.get("app_id") or ""
        logs.info("installed", team=team, app_id=app_id)
        dm = "https://slack.com/app_redirect?" + urlencode({"app": app_id, "team": team})
        return page(
            200,
            "Installed",
            f"The bot is installed in {(granted.get('team') or {}).get('name') or team}. "
            "Say hello in its DM, or @mention it in a channel after inviting it.",
            (dm, "Open the bot's DM"),
        )

    def _exchange(self, code: str, client_secret: str):
        """oauth.v2.access; a dict on success, else a refusal page (docs.slack.dev/reference/methods/oauth.v2.access)."""
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        client = WebClient(base_url=self.settings.slack_api_url, timeout=self.settings.slack_timeout_s)
        try:
            granted = client.oauth_v2_access(
                client_id=self.settings.slack_client_id, client_secret=client_secret, code=code, redirect_uri=self.redirect_uri
            ).data
        except SlackApiError as exc:
            error = exc.response.get("error")
            logs.warning("install_refused", outcome="exchange_refused", error=error)
            return page(400, "Not installed", f"Slack refused the authorization code ({error}). Open the install URL again.")
        except Exception as exc:  # network
            logs.failed("install_failed", exc, severity="ERROR", outcome="exchange_failed")
            return page(502, "Not installed", "Slack could not be reached. Open the install URL again.")
        if granted.get("token_type") != "bot" or not str(granted.get("access_token", "")).startswith("xoxb-"):
            logs.error("install_failed", outcome="no_bot_token")
            return page(502, "Not installed", "Slack answered without a bot token. Nothing was changed.")
        return granted

    def _write_bot_token(self, token: str) -> None:
        parent = self.settings.secret_refs[BOT_TOKEN].rsplit("/versions/", 1)[0]
        self._secret_client().add_secret_version(
            request={"parent": parent, "payload": {"data": token.encode()}}, timeout=10, retry=None
        )

    def _secret_client(self):
        if self._sm_client is None:
            from google.api_core.client_options import ClientOptions
            from google.cloud.secretmanager_v1 import SecretManagerServiceClient

            if self.settings.secret_manager_endpoint:  # tests and local runs: an emulator on loopback
                from google.auth.credentials import AnonymousCredentials

                self._sm_client = SecretManagerServiceClient(
                    transport="rest",
                    credentials=AnonymousCredentials(),
                    client_options=ClientOptions(api_endpoint=self.settings.secret_manager_endpoint),
                )
            else:
                self._sm_client = SecretManagerServiceClient(transport="rest")
        return self._sm_client
