"""The Slack app's dynamic providers, called directly against the Slack fake (no Pulumi engine):
check/create/diff/update/delete, the config token file, and pickling into a fresh process."""

import json
import stat
import subprocess
import sys

import pytest

from infra.config_tokens import ConfigTokenError, ConfigTokenStore
from infra.manifest import TEMPLATE, manifest_dict
from infra.slack_app import SlackAppError, SlackAppManifestProvider, SlackAppProvider
from tests.harness import REPO

URL = "https://europe-west1-acme.cloudfunctions.net/slack-bot"


def full_manifest(bot_name="TeamBot", url=URL):
    return manifest_dict(TEMPLATE.read_text(), function_url=url, bot_name=bot_name, redirect_url=url + "/slack/oauth_redirect")


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock(slack):
    c = Clock()
    slack.apps_state["clock"] = c
    return c


@pytest.fixture
def token(slack, clock):
    return slack.issue_config_tokens()[0]


def props(slack, token, manifest=None, **extra):
    return {
        "manifest": manifest or full_manifest(),
        "config_token": token,
        "api_url": slack.url + "/api/",
        "token_file": "",
        **extra,
    }


def created(slack, token, **extra):
    p = props(slack, token, **extra)
    result = SlackAppProvider().create(p)
    return p, result


# -- check -------------------------------------------------------------------------------------
def test_check_accepts_the_projects_manifest(slack, token):
    result = SlackAppProvider().check({}, props(slack, token))
    assert result.failures == []


def test_check_shows_slacks_errors_with_pointer_and_message(slack, token):
    bad = full_manifest(bot_name="A" * 40)
    bad["features"]["shortcuts"][0]["name"] = "A name much longer than allowed"
    failures = SlackAppProvider().check({}, props(slack, token, bad)).failures
    assert [f.property for f in failures] == ["manifest"]
    reason = failures[0].reason
    assert "invalid_manifest" in reason
    assert "/display_information/name: must be a string of 1 to 35 characters" in reason
    assert "/features/shortcuts/0/name: must be 1 to 24 characters" in reason


def test_expired_config_token_says_where_to_get_a_fresh_one_and_never_shows_it(slack, token, clock):
    clock.now += 12 * 3600 + 1
    failures = SlackAppProvider().check({}, props(slack, token)).failures
    assert [f.property for f in failures] == ["config_token"]
    assert "token_expired" in failures[0].reason and "https://api.slack.com/apps" in failures[0].reason
    assert "slackConfigRefreshToken" in failures[0].reason and token not in failures[0].reason
    with pytest.raises(SlackAppError) as raised:
        SlackAppProvider().create(props(slack, token))
    assert "token_expired" in str(raised.value) and token not in str(raised.value)
    assert slack.live_apps() == {}


def test_unknown_token_is_invalid_auth_with_the_same_help(slack, clock):
    failures = SlackAppProvider().check({}, props(slack, "xoxe.xoxp-1-wrong")).failures
    assert "invalid_auth" in failures[0].reason and "api.slack.com/apps" in failures[0].reason


# -- create / diff / update / delete -------------------------------------------------------------
def test_create_makes_the_app_without_request_urls_and_returns_its_credentials(slack, token):
    _, result = created(slack, token)
    outs = result.outs
    app = slack.live_apps()[result.id]
    assert result.id == outs["app_id"]
    creds = app["credentials"]
    assert (outs["client_id"], outs["client_secret"], outs["signing_secret"]) == (
        creds["client_id"],
        creds["client_secret"],
        creds["signing_secret"],
    )
    assert outs["oauth_authorize_url"].startswith("https://slack.com/oauth/v2/authorize?client_id=")
    live = app["manifest"]
    assert "event_subscriptions" not in live["settings"] and live["settings"]["interactivity"] == {"is_enabled": False}
    assert "shortcuts" not in live["features"]
    assert live["oauth_config"]["redirect_urls"] == [URL + "/slack/oauth_redirect"]  # known before the function exists
    assert live["oauth_config"]["scopes"] == full_manifest()["oauth_config"]["scopes"]


def test_manifest_resource_then_applies_the_full_manifest_to_the_same_app(slack, token):
    p, result = created(slack, token)
    SlackAppManifestProvider().create({**p, "app_id": result.id})
    assert list(slack.live_apps()) == [result.id]
    live = slack.live_apps()[result.id]["manifest"]
    assert live == full_manifest()
    assert live["settings"]["event_subscriptions"]["request_url"] == URL


def test_diff_manifest_change_is_an_update_never_a_replacement_and_token_alone_is_no_diff(slack, token):
    p, result = created(slack, token)
    olds = result.outs
    new_token = slack.issue_config_tokens()[0]
    same = SlackAppProvider().diff(result.id, olds, {**p, "config_token": new_token, "api_url": "https://other/api/"})
    assert same.changes is False and same.replaces == []
    renamed = SlackAppProvider().diff(result.id, olds, {**p, "manifest": full_manifest("Helper")})
    assert renamed.changes is True and renamed.replaces == [] and renamed.delete_before_replace is False
    m = SlackAppManifestProvider()
    assert m.diff("x", {**p, "app_id": result.id}, {**p, "app_id": result.id, "config_token": new_token}).changes is False
    assert m.diff("x", {**p, "app_id": result.id}, {**p, "app_id": result.id, "manifest": full_manifest("H")}).changes


def test_update_is_in_place_same_app_id_and_keeps_the_live_request_urls(slack, token):
    p, result = created(slack, token)
    SlackAppManifestProvider().create({**p, "app_id": result.id})
    moved = full_manifest("Helper", url="https://europe-west1-acme.cloudfunctions.net/renamed")
    news = {**p, "manifest": moved}
    updated = SlackAppProvider().update(result.id, result.outs, news)
    assert list(slack.live_apps()) == [result.id]  # no new app
    assert updated.outs["app_id"] == result.id and updated.outs["signing_secret"] == result.outs["signing_secret"]
    assert updated.outs["manifest"] == moved
    live = slack.live_apps()[result.id]["manifest"]
    assert live["display_information"]["name"] == "Helper"
    # the function at the new URL may not exist yet: the URLs Slack already verified stay until step 4
    assert live["settings"]["event_subscriptions"]["request_url"] == URL
    assert live["features"]["shortcuts"] == moved["features"]["shortcuts"]
    SlackAppManifestProvider().update("x", {}, {**news, "app_id": result.id})
    assert slack.live_apps()[result.id]["manifest"]["settings"]["interactivity"]["request_url"].endswith("/renamed")


def test_update_before_the_urls_were_ever_live_does_not_add_them(slack, token):
    p, result = created(slack, token)
    SlackAppProvider().update(result.id, result.outs, {**p, "manifest": full_manifest("Helper")})
    live = slack.live_apps()[result.id]["manifest"]
    assert "event_subscriptions" not in live["settings"] and "shortcuts" not in live["features"]


def test_destroy_deletes_the_app_and_a_missing_app_is_already_deleted(slack, token):
    _, result = created(slack, token)
    SlackAppProvider().delete(result.id, result.outs)
    assert slack.live_apps() == {}
    SlackAppProvider().delete(result.id, result.outs)  # twice: app_not_found is fine
    SlackAppManifestProvider().delete("x", {})  # never calls Slack


def test_destroy_after_the_state_token_expired_uses_the_renewed_one_from_the_token_file(slack, clock, tmp_path):
    token, refresh = slack.issue_config_tokens()
    store = ConfigTokenStore(tmp_path / "t.json", api_url=slack.url + "/api/", clock=clock)
    first = store.resolve(token, refresh)
    _, result = created(slack, first, token_file=str(store.path))
    clock.now += 13 * 3600  # the token in the state is dead
    with pytest.raises(SlackAppError, match="token_expired"):
        SlackAppProvider().delete(result.id, {**result.outs, "token_file": ""})
    SlackAppProvider().delete(result.id, result.outs)
    assert slack.live_apps() == {}


# -- the config token file ---------------------------------------------------------------------
def test_without_a_refresh_token_the_configured_token_is_used_and_recorded_0600(slack, clock, tmp_path):
    token, _ = slack.issue_config_tokens()
    store = ConfigTokenStore(tmp_path / "d" / "t.json", api_url=slack.url + "/api/", clock=clock)
    assert store.resolve(token, None) == token
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert json.loads(store.path.read_text())["token"] == token
    assert slack.count("tooling.tokens.rotate") == 0


def test_refresh_token_rotates_once_persists_the_pair_and_renews_before_expiry(slack, clock, tmp_path):
    token, refresh = slack.issue_config_tokens()
    store = ConfigTokenStore(tmp_path / "t.json", api_url=slack.url + "/api/", clock=clock)
    first = store.resolve(token, refresh)
    saved = json.loads(store.path.read_text())
    assert first != token and saved["token"] == first and saved["refresh_token"] != refresh
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.resolve(token, refresh) == first  # next run, same config: the file's pair, no rotation
    assert slack.count("tooling.tokens.rotate") == 1
    clock.now += 12 * 3600 - 10 * 60  # 10 minutes left: renew with the file's (unused) refresh token
    second = store.resolve(token, refresh)
    assert second not in (first, token) and slack.count("tooling.tokens.rotate") == 2
    assert SlackAppProvider().check({}, props(slack, second)).failures == []


def test_a_spent_refresh_token_gives_a_clear_error_and_never_the_token(slack, clock, tmp_path):
    token, refresh = slack.issue_config_tokens()
    ConfigTokenStore(tmp_path / "a.json", api_url=slack.url + "/api/", clock=clock).resolve(token, refresh)
    other = ConfigTokenStore(tmp_path / "b.json", api_url=slack.url + "/api/", clock=clock)  # e.g. another machine
    with pytest.raises(ConfigTokenError) as raised:
        other.resolve(token, refresh)
    text = str(raised.value)
    assert "invalid_refresh_token" in text and "https://api.slack.com/apps" in text
    assert token not in text and refresh not in text


def test_a_newly_configured_refresh_token_starts_a_new_chain(slack, clock, tmp_path):
    store = ConfigTokenStore(tmp_path / "t.json", api_url=slack.url + "/api/", clock=clock)
    store.resolve(*slack.issue_config_tokens())
    token2, refresh2 = slack.issue_config_tokens()
    fresh = store.resolve(token2, refresh2)
    assert json.loads(store.path.read_text())["token"] == fresh
    assert slack.count("tooling.tokens.rotate") == 2


# -- pickling ----------------------------------------------------------------------------------
LOAD = r"""
import base64, json, sys
import dill
provider = dill.loads(base64.b64decode(sys.stdin.read()))
args = json.loads(sys.argv[1])
print(json.dumps([f.reason for f in provider.check({}, args).failures]))
"""


def test_provider_survives_pulumis_pickling_into_a_fresh_process(slack, token):
    from pulumi.dynamic.dynamic import serialize_provider

    blob = serialize_provider(SlackAppProvider())
    bad = props(slack, token, full_manifest("B" * 50))
    run = subprocess.run(
        [sys.executable, "-c", LOAD, json.dumps(bad)], input=blob, text=True, capture_output=True, cwd=REPO, timeout=60
    )  # the provider process runs from the project directory
    assert run.returncode == 0, run.stderr
    assert "/display_information/name" in json.loads(run.stdout)[0]


# -- Tier 1 rate limits and the API URL (issue 18) ---------------------------------------------------
def test_a_rate_limited_manifest_update_is_retried_after_retry_after(slack, token):
    import time

    p, result = created(slack, token)
    slack.tier1_limits(window_s=1.5)  # Tier 1, window shrunk from a minute
    SlackAppManifestProvider().create({**p, "app_id": result.id})  # first call of the window: through
    started = time.monotonic()
    SlackAppManifestProvider().update("x", {}, {**p, "app_id": result.id, "manifest": full_manifest("Helper")})
    assert slack.rate_limited.get("apps.manifest.update") == 1  # one 429 ...
    assert time.monotonic() - started >= 1.0  # ... and the retry waited for its Retry-After
    assert slack.live_apps()[result.id]["manifest"]["display_information"]["name"] == "Helper"


def test_rate_limit_retries_are_bounded_and_say_what_to_do(slack, token, monkeypatch):
    import infra.slack_app as slack_app

    p, result = created(slack, token)
    slack.tier1_limits(window_s=30)
    SlackAppManifestProvider().create({**p, "app_id": result.id})
    monkeypatch.setattr(slack_app, "RATE_LIMIT_MAX_WAIT_S", 5.0)  # Slack asks for ~30 s: more than allowed
    with pytest.raises(SlackAppError, match=r"rate-limited apps\.manifest\.update .*run `pulumi up` again"):
        SlackAppManifestProvider().update("x", {}, {**p, "app_id": result.id, "manifest": full_manifest("Helper")})
    assert slack.rate_limited["apps.manifest.update"] == 1  # gave up at once, no sleep of 30 s
    assert slack.live_apps()[result.id]["manifest"]["display_information"]["name"] == "TeamBot"


def test_api_url_without_a_trailing_slash_works_for_every_slack_call(slack, clock, tmp_path):
    from infra.slack_app import api_base_url

    assert api_base_url("https://x.test/api") == api_base_url("https://x.test/api/") == "https://x.test/api/"
    token, refresh = slack.issue_config_tokens()
    bare = slack.url + "/api"
    store = ConfigTokenStore(tmp_path / "t.json", api_url=bare, clock=clock)
    fresh = store.resolve(token, refresh)  # tooling.tokens.rotate
    p = {**props(slack, fresh), "api_url": bare}
    assert SlackAppProvider().check({}, p).failures == []  # apps.manifest.validate
    result = SlackAppProvider().create(p)  # apps.manifest.create
    SlackAppManifestProvider().create({**p, "app_id": result.id})  # apps.manifest.update
    SlackAppProvider().update(result.id, result.outs, {**p, "manifest": full_manifest("Helper")})  # export + update
    SlackAppProvider().delete(result.id, {**result.outs, "api_url": bare})  # apps.manifest.delete
    assert slack.live_apps() == {}
    assert slack.count("apps.manifest.update") == 2


def test_the_functions_install_exchange_works_without_a_trailing_slash(slack, token):
    """The function builds its WebClients from SLACK_API_URL as given (slack_ops, socket_mode and install):
    this pins that `.../api` works; the fake answers 404 outside /api/."""
    from teambot.core.settings import Settings
    from teambot.install.routes import InstallRoutes

    _, result = created(slack, token)
    settings = Settings.from_env(
        {"SLACK_API_URL": slack.url + "/api", "SLACK_CLIENT_ID": result.outs["client_id"], "FUNCTION_URL": URL}
    )
    routes = InstallRoutes(settings, secrets=None)
    code = slack.authorize(result.outs["client_id"], routes.redirect_uri)
    granted = routes._exchange(code, result.outs["client_secret"])
    assert isinstance(granted, dict) and granted["access_token"].startswith("xoxb-installed-"), granted
