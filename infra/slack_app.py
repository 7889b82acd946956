"""The Slack app as a Pulumi resource (Pulumi dynamic provider, Slack's App Manifest API).

Ordering, so the function already knows the signing secret when Slack first calls it (and the
unsigned url_verification exception is never needed on this path):

  1. SlackApp create: `apps.manifest.create` with the manifest *minus* its request URLs (no
     event subscriptions, interactivity off, no shortcuts: Slack verifies a request URL the
     moment it is given one, and wants interactivity for shortcuts). Outputs the credentials.
  2. The signing secret becomes a new Secret Manager version; the client secret a new secret.
  3. The function deploys, depending on those versions: its first read is the real secret.
  4. SlackAppManifest create: `apps.manifest.update` with the full manifest (same app id). Slack
     sends url_verification now, signed with a secret the function already has.

Later runs: a changed manifest is an in-place update. SlackApp.update applies the new manifest
but keeps whatever request URLs are live (read with `apps.manifest.export`), because the
function at a new URL may not exist yet; SlackAppManifest then applies the full manifest after
the function. A change of `config_token` (or `api_url`) alone is not a diff: tokens expire
every 12 hours and that must not touch the app.

The provider is pickled into the state by Pulumi (dill, by reference for a class defined in a
module): nothing here holds a client; every Slack call creates its WebClient inside the method,
and the provider process imports `infra.slack_app` from the project directory.
Slack docs: docs.slack.dev/reference/methods/apps.manifest.{create,update,validate,delete,export}.
"""

from __future__ import annotations

import copy

import pulumi
import pulumi.dynamic

DEFAULT_API_URL = "https://slack.com/api/"
# apps.manifest.* are Tier 1 ("1+ per minute", docs.slack.dev/apis/web-api/rate-limits): a 429 is
# retried after its Retry-After, at most RATE_LIMIT_RETRIES times and never waiting longer than
# RATE_LIMIT_MAX_WAIT_S for one retry (a longer ask fails the step with a readable message).
RATE_LIMIT_RETRIES = 3
RATE_LIMIT_MAX_WAIT_S = 120.0
SECRET_OUTPUTS = ["client_secret", "signing_secret", "config_token"]
REQUEST_URL_SECTIONS = ("event_subscriptions", "interactivity")


def api_base_url(url: str | None) -> str:
    """SLACK_API_URL in one form, with its trailing slash: method URLs are urljoin(base_url, method),
    and `https://host/api` would give `https://host/apps.manifest.create`. slack_sdk's BaseClient
    (3.47) appends the slash itself; normalizing here keeps the state's `api_url` canonical and does
    not depend on it."""
    return (url or DEFAULT_API_URL).rstrip("/") + "/"


def retry_after_s(exc) -> float | None:
    """Seconds Slack asked to wait, for a 429; None for any other answer."""
    response = exc.response
    if getattr(response, "status_code", None) != 429:
        return None
    headers = {str(k).lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
    raw = headers.get("retry-after")
    if isinstance(raw, list):
        raw = raw[0] if raw else None
    try:
        return max(0.0, float(raw))
    except (TypeError, ValueError):
        return 1.0


class SlackAppError(Exception):
    """Readable by the operator; never contains a token or a secret."""


def without_request_urls(manifest: dict) -> dict:
    """The manifest Slack can accept before the function knows the signing secret."""
    out = copy.deepcopy(manifest)
    settings = out.setdefault("settings", {})
    settings.pop("event_subscriptions", None)
    settings["interactivity"] = {"is_enabled": False}
    out.get("features", {}).pop("shortcuts", None)
    return out


def live_request_urls(live: dict, new: dict) -> dict:
    """`new`, but with the request URL settings (and shortcuts) that are live now."""
    out = without_request_urls(new)
    for section in REQUEST_URL_SECTIONS:
        if section in (live.get("settings") or {}):
            out["settings"][section] = copy.deepcopy(live["settings"][section])
    if out["settings"]["interactivity"].get("is_enabled") and (new.get("features") or {}).get("shortcuts"):
        out["features"]["shortcuts"] = copy.deepcopy(new["features"]["shortcuts"])  # interactivity is live: keep them
    return out


def slack_error_text(exc) -> str:
    """One readable message for a SlackApiError from the manifest methods."""
    from infra.config_tokens import FRESH_TOKEN_HELP, TOKEN_ERRORS

    response = exc.response
    code = response.get("error")
    if code in TOKEN_ERRORS:
        return f"Slack refused the app configuration token ({code}): it lasts 12 hours; {FRESH_TOKEN_HELP}"
    if code == "invalid_manifest":
        lines = [f"  {e.get('pointer', '?')}: {e.get('message', '')}" for e in response.get("errors") or []]
        return "Slack rejected the manifest (invalid_manifest):\n" + "\n".join(lines)
    return f"Slack answered {code}"


class _ManifestApi:
    """Slack calls shared by the two providers; a fresh WebClient per call (picklable)."""

    def _client(self, props: dict, token: str | None = None):
        from slack_sdk import WebClient

        return WebClient(token=token or props["config_token"], base_url=api_base_url(props.get("api_url")), timeout=30)

    def _call(self, props: dict, method: str, token: str | None = None, **kwargs):
        import time

        from slack_sdk.errors import SlackApiError

        for attempt in range(RATE_LIMIT_RETRIES + 1):
            try:
                return getattr(self._client(props, token), method)(**kwargs)
            except SlackApiError as exc:
                wait = retry_after_s(exc)
                if wait is None:
                    raise SlackAppError(slack_error_text(exc)) from None
                if attempt == RATE_LIMIT_RETRIES or wait > RATE_LIMIT_MAX_WAIT_S:
                    raise SlackAppError(
                        f"Slack rate-limited {method.replace('_', '.')} (Tier 1, about one call a minute) "
                        f"{attempt + 1} time(s), asking to wait {wait:.0f} s; run `pulumi up` again in a few minutes"
                    ) from None
                time.sleep(wait)
            except OSError as exc:
                raise SlackAppError(f"could not reach Slack at {props.get('api_url')} ({type(exc).__name__})") from None
        raise AssertionError("unreachable")

    def _current_token(self, props: dict, *, renew: bool = False) -> str:
        """The newest config token on this machine: the state's may be older than 12 hours."""
        from infra.config_tokens import ConfigTokenStore

        if not props.get("token_file"):
            return props["config_token"]
        store = ConfigTokenStore(props["token_file"], api_url=api_base_url(props.get("api_url")))
        return store.current(props["config_token"], renew=renew)


class SlackAppProvider(_ManifestApi, pulumi.dynamic.ResourceProvider):
    def check(self, olds: dict, news: dict) -> pulumi.dynamic.CheckResult:
        from slack_sdk.errors import SlackApiError

        from infra.config_tokens import TOKEN_ERRORS

        manifest = news.get("manifest")
        if not isinstance(manifest, dict):
            return pulumi.dynamic.CheckResult(news, [pulumi.dynamic.CheckFailure("manifest", "must be a dict")])
        try:
            self._client(news).apps_manifest_validate(manifest=manifest)
        except SlackApiError as exc:
            code = exc.response.get("error")
            prop = "config_token" if code in TOKEN_ERRORS else "manifest"
            return pulumi.dynamic.CheckResult(news, [pulumi.dynamic.CheckFailure(prop, slack_error_text(exc))])
        except OSError as exc:
            reason = f"could not reach Slack at {news.get('api_url')} ({type(exc).__name__})"
            return pulumi.dynamic.CheckResult(news, [pulumi.dynamic.CheckFailure("api_url", reason)])
        return pulumi.dynamic.CheckResult(news, [])

    def create(self, props: dict) -> pulumi.dynamic.CreateResult:
        answer = self._call(props, "apps_manifest_create", manifest=without_request_urls(props["manifest"]))
        credentials = answer["credentials"]
        outs = {
            **props,
            "app_id": answer["app_id"],
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "signing_secret": credentials["signing_secret"],
            "oauth_authorize_url": answer.get("oauth_authorize_url"),
        }
        return pulumi.dynamic.CreateResult(answer["app_id"], outs)

    def diff(self, _id: str, olds: dict, news: dict) -> pulumi.dynamic.DiffResult:
        # Only the manifest matters; never a replacement (a new app would need a new install).
        return pulumi.dynamic.DiffResult(
            changes=olds.get("manifest") != news.get("manifest"), replaces=[], delete_before_replace=False
        )

    def update(self, id_: str, olds: dict, news: dict) -> pulumi.dynamic.UpdateResult:
        live = self._call(news, "apps_manifest_export", app_id=id_)["manifest"]
        self._call(news, "apps_manifest_update", app_id=id_, manifest=live_request_urls(live, news["manifest"]))
        kept = {k: olds.get(k) for k in ("app_id", "client_id", "client_secret", "signing_secret", "oauth_authorize_url")}
        return pulumi.dynamic.UpdateResult({**news, **kept})

    def delete(self, id_: str, props: dict) -> None:
        # `pulumi destroy` does not run the program: the token comes from the state or, newer,
        # from the token file; if Slack calls it expired, renew once with the file's refresh token.
        from slack_sdk.errors import SlackApiError

        from infra.config_tokens import TOKEN_ERRORS

        for renew in (False, True):
            try:
                self._client(props, self._current_token(props, renew=renew)).apps_manifest_delete(app_id=id_)
                return
            except SlackApiError as exc:
                code = exc.response.get("error")
                if code == "app_not_found":
                    return  # deleted by hand already: nothing left to do
                if renew or code not in TOKEN_ERRORS or not props.get("token_file"):
                    raise SlackAppError(slack_error_text(exc)) from None


class SlackAppManifestProvider(_ManifestApi, pulumi.dynamic.ResourceProvider):
    """Step 4 above: the full manifest, once the function can verify Slack's signature."""

    def create(self, props: dict) -> pulumi.dynamic.CreateResult:
        self._call(props, "apps_manifest_update", app_id=props["app_id"], manifest=props["manifest"])
        return pulumi.dynamic.CreateResult(f"{props['app_id']}-manifest", dict(props))

    def diff(self, _id: str, olds: dict, news: dict) -> pulumi.dynamic.DiffResult:
        changed = any(olds.get(k) != news.get(k) for k in ("manifest", "app_id"))
        return pulumi.dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict, news: dict) -> pulumi.dynamic.UpdateResult:
        self._call(news, "apps_manifest_update", app_id=news["app_id"], manifest=news["manifest"])
        return pulumi.dynamic.UpdateResult(dict(news))

    def delete(self, _id: str, _props: dict) -> None:
        pass  # the app itself is deleted by SlackApp; stripping its URLs first would be wasted calls


class SlackApp(pulumi.dynamic.Resource, module="teambot", name="SlackApp"):
    app_id: pulumi.Output[str]
    client_id: pulumi.Output[str]
    client_secret: pulumi.Output[str]
    signing_secret: pulumi.Output[str]
    oauth_authorize_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        manifest,
        config_token,
        api_url: str = DEFAULT_API_URL,
        token_file: str = "",
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "manifest": manifest,
            "config_token": pulumi.Output.secret(config_token),
            "api_url": api_url,
            "token_file": token_file,
            "app_id": None,
            "client_id": None,
            "client_secret": None,
            "signing_secret": None,
            "oauth_authorize_url": None,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS))
        super().__init__(SlackAppProvider(), name, props, opts)


class SlackAppManifest(pulumi.dynamic.Resource, module="teambot", name="SlackAppManifest"):
    def __init__(
        self,
        name: str,
        *,
        app_id,
        manifest,
        config_token,
        api_url: str = DEFAULT_API_URL,
        token_file: str = "",
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "app_id": app_id,
            "manifest": manifest,
            "config_token": pulumi.Output.secret(config_token),
            "api_url": api_url,
            "token_file": token_file,
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["config_token"]))
        super().__init__(SlackAppManifestProvider(), name, props, opts)
