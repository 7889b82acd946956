"""The Slack methods of app configuration and installation, mixed into FakeSlack:
apps.manifest.create/update/validate/delete/export, tooling.tokens.rotate, oauth.v2.access.

Shapes follow Slack's method pages (docs.slack.dev/reference/methods/<method>) and
@slack/web-api's response types (AppsManifestCreateResponse: app_id, credentials{client_id,
client_secret, signing_secret, verification_token}, oauth_authorize_url; errors[]{message, pointer}).
These methods authenticate themselves: the app configuration token (xoxe.xoxp-...) as a Bearer
token, the refresh token as a form field, the client id/secret as HTTP Basic auth (what
slack_sdk's `oauth_v2_access` sends). FakeSlack.handle hands them the Authorization header.

Every rule the fake enforces is a place where production would fail too; rules the docs leave
open are marked "assumed".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import time
import urllib.request
from urllib.parse import urlencode

CONFIG_TOKEN_TTL_S = (
    12 * 3600
)  # tooling.tokens.rotate page: "Each app configuration token will expire 12 hours after it has been generated"
MANIFEST_METHODS = (
    "apps.manifest.create",
    "apps.manifest.update",
    "apps.manifest.validate",
    "apps.manifest.delete",
    "apps.manifest.export",
)


def _error(code: str, **extra) -> dict:
    return {"ok": False, "error": code, **extra}


def _invalid(*problems: tuple[str, str]) -> dict:
    # apps.manifest.validate/create/update: error "invalid_manifest" with errors[]{message, pointer}
    return _error("invalid_manifest", errors=[{"message": m, "pointer": p} for p, m in problems])


def _url_ok(url) -> bool:
    # Slack wants https request/redirect URLs. Deviation: http://127.0.0.1 is accepted so a test can
    # point a manifest at a loopback function process.
    return isinstance(url, str) and (url.startswith("https://") or url.startswith("http://127.0.0.1:"))


def manifest_problems(manifest) -> list[tuple[str, str]]:
    """The subset of slackapi/manifest-schema (schema 2.0) this project's manifest touches."""
    if not isinstance(manifest, dict):
        return [("/", "manifest must be an object")]
    out = []
    name = (manifest.get("display_information") or {}).get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 35:  # schema: maxLength 35
        out.append(("/display_information/name", "must be a string of 1 to 35 characters"))
    features = manifest.get("features") or {}
    bot = features.get("bot_user") or {}
    if "display_name" in bot and not 1 <= len(str(bot["display_name"])) <= 80:  # schema: maxLength 80
        out.append(("/features/bot_user/display_name", "must be 1 to 80 characters"))
    shortcuts = features.get("shortcuts") or []
    if len(shortcuts) > 10:  # schema: maxItems 10
        out.append(("/features/shortcuts", "no more than 10 items allowed"))
    for i, s in enumerate(shortcuts):
        if not 1 <= len(s.get("name", "")) <= 24:  # schema: name maxLength 24
            out.append((f"/features/shortcuts/{i}/name", "must be 1 to 24 characters"))
    settings = manifest.get("settings") or {}
    interactivity = settings.get("interactivity") or {}
    if shortcuts and not interactivity.get("is_enabled"):  # assumed: shortcuts need interactivity (app config page)
        out.append(("/settings/interactivity/is_enabled", "shortcuts require interactivity to be enabled"))
    if interactivity.get("is_enabled") and not _url_ok(interactivity.get("request_url")):  # assumed
        out.append(("/settings/interactivity/request_url", "an https request URL is required when interactivity is enabled"))
    events = settings.get("event_subscriptions") or {}
    if events.get("bot_events") and not _url_ok(events.get("request_url")):  # assumed: events need a URL
        out.append(("/settings/event_subscriptions/request_url", "an https request URL is required for event subscriptions"))
    for i, url in enumerate((manifest.get("oauth_config") or {}).get("redirect_urls") or []):
        if not _url_ok(url):
            out.append((f"/oauth_config/redirect_urls/{i}", "must be an https URL"))
    return out


def request_urls(manifest: dict) -> dict[str, str]:
    settings = manifest.get("settings") or {}
    found = {}
    for pointer, section in (
        ("/settings/event_subscriptions/request_url", "event_subscriptions"),
        ("/settings/interactivity/request_url", "interactivity"),
    ):
        url = (settings.get(section) or {}).get("request_url")
        if url:
            found[pointer] = url
    return found


class SlackAppsApi:
    """Mixin for FakeSlack. State is created lazily: FakeSlack.__init__ is not ours to extend."""

    OWN_AUTH = frozenset({*MANIFEST_METHODS, "tooling.tokens.rotate", "oauth.v2.access"})

    # -- state ----------------------------------------------------------------------------
    @property
    def apps_state(self) -> dict:
        if "_apps_state" not in self.__dict__:
            self.__dict__["_apps_state"] = {
                "clock": time.time,  # injectable: tests move time to expire tokens and codes
                "config_tokens": {},  # token -> expiry (epoch s)
                "refresh_tokens": {},  # refresh token -> still usable?
                "apps": {},  # app_id -> {"manifest", "credentials", "deleted"}
                "codes": {},  # code -> {"client_id", "redirect_uri", "team", "used"}
                "url_checks": [],  # (url, verified?) for every request URL Slack would verify
                "verify_urls": False,  # send url_verification to request URLs on create/update
                "ids": itertools.count(1),
            }
        return self.__dict__["_apps_state"]

    def tier1_limits(self, window_s: float = 60.0, calls: int = 1) -> None:
        """Slack's Tier 1 on the manifest methods ("1+ per minute", docs.slack.dev/apis/web-api/rate-limits;
        each apps.manifest.* page names Tier 1): `calls` per `window_s`, then 429 with Retry-After (the
        shared sliding window of FakeSlack). Off by default so other tests need not wait; tests shrink
        the window to keep the suite fast."""
        self.limits.update({method: (calls, window_s) for method in MANIFEST_METHODS})

    def issue_config_tokens(self) -> tuple[str, str]:
        """What api.slack.com/apps "Generate Token" gives: an access token and a refresh token."""
        st = self.apps_state
        token, refresh = f"xoxe.xoxp-1-{secrets.token_hex(8)}", f"xoxe-1-{secrets.token_hex(8)}"
        st["config_tokens"][token] = st["clock"]() + CONFIG_TOKEN_TTL_S
        st["refresh_tokens"][refresh] = True
        return token, refresh

    def live_apps(self) -> dict:
        return {k: v for k, v in self.apps_state["apps"].items() if not v["deleted"]}

    def authorize(self, client_id: str, redirect_uri: str, *, team="T1", team_name="Acme") -> str:
        """What Slack does when the user clicks Allow on /oauth/v2/authorize: a one-time code."""
        code = f"code-{secrets.token_hex(6)}"
        self.apps_state["codes"][code] = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "team": {"id": team, "name": team_name},
            "used": False,
        }
        return code

    # -- auth -----------------------------------------------------------------------------
    def _config_auth(self, p) -> dict | None:
        token = p.get("_authorization", "").removeprefix("Bearer ") or p.get("token")
        if not token:
            return _error("not_authed")
        expiry = self.apps_state["config_tokens"].get(token)
        if expiry is None:
            return _error("invalid_auth")
        if self.apps_state["clock"]() >= expiry:
            return _error("token_expired")  # documented on the apps.manifest.* pages
        return None

    def _manifest_arg(self, p):
        raw = p.get("manifest")
        if raw is None:
            return None, _error("invalid_arguments")
        try:
            return (json.loads(raw) if isinstance(raw, str) else raw), None
        except ValueError:
            return None, _invalid(("/", "manifest is not valid JSON"))

    def _app_arg(self, p):
        app = self.apps_state["apps"].get(p.get("app_id") or "")
        if app is None or app["deleted"]:
            return None, _error("app_not_found" if p.get("app_id") else "invalid_arguments")
        return app, None

    def _verify_urls(self, app: dict, manifest: dict) -> dict | None:
        """Slack sends a signed url_verification to the events request URL it is given and wants the
        challenge back (Events API docs, "url_verification"). Assumed, stricter than documented: the
        interactivity URL is checked too, and a failed check fails the manifest call."""
        if not self.apps_state["verify_urls"]:
            return None
        for pointer, url in request_urls(manifest).items():
            challenge = secrets.token_hex(8)
            body = json.dumps(
                {"token": app["credentials"]["verification_token"], "challenge": challenge, "type": "url_verification"}
            ).encode()
            ts = str(int(time.time()))
            sig = (
                "v0="
                + hmac.new(app["credentials"]["signing_secret"].encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
            )
            req = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig},
            )
            try:
                with urllib.request.urlopen(req, timeout=3) as r:
                    answer = r.read().decode()
                ok = challenge in answer
            except OSError:
                ok = False
            self.apps_state["url_checks"].append((url, ok))
            if not ok:
                return _invalid((pointer, f"Couldn't verify the request URL {url}"))
        return None

    # -- apps.manifest.* ------------------------------------------------------------------
    def m_apps_manifest_validate(self, p):
        manifest, err = self._manifest_arg(p)
        err = err or self._config_auth(p)
        if err:
            return err
        problems = manifest_problems(manifest)
        return _invalid(*problems) if problems else {"ok": True}

    def m_apps_manifest_create(self, p):
        manifest, err = self._manifest_arg(p)
        err = err or self._config_auth(p)
        if err:
            return err
        if problems := manifest_problems(manifest):
            return _invalid(*problems)
        if "assistant_view" in (manifest.get("features") or {}):
            # "new apps can only use" features.agent_view (docs.slack.dev/ai/migrating-to-agent-messaging;
            # Slack's changelog, July 2026). The exact message is ours.
            return _invalid(("/features/assistant_view", "new apps must use agent_view"))
        n = next(self.apps_state["ids"])
        app_id, client_id = f"A0FAKE{n:04d}", f"1111.{2220 + n}"
        credentials = {
            "client_id": client_id,
            "client_secret": secrets.token_hex(16),
            "signing_secret": secrets.token_hex(16),
            "verification_token": secrets.token_hex(12),
        }
        app = {"manifest": manifest, "credentials": credentials, "deleted": False}
        if err := self._verify_urls(app, manifest):
            return err
        self.apps_state["apps"][app_id] = app
        scopes = ",".join((manifest.get("oauth_config") or {}).get("scopes", {}).get("bot", []))
        return {
            "ok": True,
            "app_id": app_id,
            "credentials": credentials,
            "oauth_authorize_url": "https://slack.com/oauth/v2/authorize?" + urlencode({"client_id": client_id, "scope": scopes}),
        }

    def m_apps_manifest_update(self, p):
        manifest, err = self._manifest_arg(p)
        err = err or self._config_auth(p)
        if err:
            return err
        app, err = self._app_arg(p)
        if err:
            return err
        if problems := manifest_problems(manifest):
            return _invalid(*problems)
        if err := self._verify_urls(app, manifest):
            return err
        old_scopes = (app["manifest"].get("oauth_config") or {}).get("scopes")
        app["manifest"] = manifest
        # apps.manifest.update page: returns app_id and permissions_updated
        return {
            "ok": True,
            "app_id": p["app_id"],
            "permissions_updated": old_scopes != (manifest.get("oauth_config") or {}).get("scopes"),
        }

    def m_apps_manifest_export(self, p):  # apps.manifest.export page: {"ok": true, "manifest": {...}}
        err = self._config_auth(p)
        if err:
            return err
        app, err = self._app_arg(p)
        return err or {"ok": True, "manifest": app["manifest"]}

    def m_apps_manifest_delete(self, p):  # apps.manifest.delete page: {"ok": true}; app_not_found otherwise
        err = self._config_auth(p)
        if err:
            return err
        app, err = self._app_arg(p)
        if err:
            return err
        app["deleted"] = True
        return {"ok": True}

    # -- tooling.tokens.rotate --------------------------------------------------------------
    def m_tooling_tokens_rotate(self, p):
        st = self.apps_state
        refresh = p.get("refresh_token") or ""
        if not st["refresh_tokens"].get(refresh):
            return _error("invalid_refresh_token")  # unknown, or already used: refresh tokens are single use
        st["refresh_tokens"][refresh] = False
        now = st["clock"]()
        token, new_refresh = f"xoxe.xoxp-1-{secrets.token_hex(8)}", f"xoxe-1-{secrets.token_hex(8)}"
        st["config_tokens"][token] = now + CONFIG_TOKEN_TTL_S
        st["refresh_tokens"][new_refresh] = True
        # tooling.tokens.rotate page: token, refresh_token, team_id, user_id, iat, exp
        return {
            "ok": True,
            "token": token,
            "refresh_token": new_refresh,
            "team_id": "T1",
            "user_id": "U1",
            "iat": int(now),
            "exp": int(now + CONFIG_TOKEN_TTL_S),
        }

    # -- oauth.v2.access --------------------------------------------------------------------
    def m_oauth_v2_access(self, p):
        auth = p.get("_authorization", "")
        client_id, client_secret = p.get("client_id"), p.get("client_secret")
        if auth.startswith("Basic "):  # slack_sdk sends the client credentials as HTTP Basic auth
            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        app = next((a for a in self.live_apps().values() if a["credentials"]["client_id"] == client_id), None)
        # Error codes from the oauth.v2.access method page: invalid_client_id, bad_client_secret,
        # invalid_code, bad_redirect_uri ("did not match the redirect_uri in the original request").
        if app is None:
            return _error("invalid_client_id")
        if not hmac.compare_digest(app["credentials"]["client_secret"], client_secret or ""):
            return _error("bad_client_secret")
        grant = self.apps_state["codes"].get(p.get("code") or "")
        if grant is None or grant["used"] or grant["client_id"] != client_id:
            return _error("invalid_code")
        grant["used"] = True  # a code is single use (RFC 6749 4.1.2), whatever the outcome
        if (p.get("redirect_uri") or None) != grant["redirect_uri"]:
            return _error("bad_redirect_uri")  # must match the redirect_uri sent to /oauth/v2/authorize
        app_id = next(k for k, a in self.apps_state["apps"].items() if a is app)
        token = f"xoxb-installed-{secrets.token_hex(6)}"
        self.valid_tokens.add(token)
        scopes = (app["manifest"].get("oauth_config") or {}).get("scopes", {}).get("bot", [])
        # oauth.v2.access page, bot token response
        return {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": ",".join(scopes),
            "bot_user_id": self.bot_user_id,
            "app_id": app_id,
            "team": grant["team"],
            "enterprise": None,
            "authed_user": {"id": "U1"},
            "is_enterprise_install": False,
        }
