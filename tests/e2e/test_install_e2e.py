"""One-click install over loopback: the function process, the Slack fake (app created by the real
SlackAppProvider, oauth.v2.access) and the Secret Manager fake (driven by the real client).
Plus the ordering of `pulumi up` (Slack's first url_verification is already signed with a secret
the function has) and the state rules in-process."""

import time
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from infra.manifest import TEMPLATE, bot_scopes, manifest_dict
from infra.slack_app import SlackAppManifestProvider, SlackAppProvider
from teambot.install.oauth_state import OAuthStates, StateRejected
from tests.e2e.test_answer_e2e import finished
from tests.fakes.secret_manager import FakeSecretManager
from tests.harness import dm, wait_for

FUNCTION_URL = "https://europe-west1-acme.cloudfunctions.net/slack-bot"
REDIRECT = FUNCTION_URL + "/slack/oauth_redirect"
IDS = {
    "SLACK_SIGNING_SECRET": "slack-bot-slack-signing-secret",
    "SLACK_BOT_TOKEN": "slack-bot-slack-bot-token",
    "OPENAI_API_KEY": "slack-bot-openai-api-key",
    "SLACK_CLIENT_SECRET": "slack-bot-slack-client-secret",
}


def manifest(url=FUNCTION_URL):
    return manifest_dict(TEMPLATE.read_text(), function_url=url, bot_name="TeamBot", redirect_url=REDIRECT)


@pytest.fixture
def sm():
    fake = FakeSecretManager().start()
    yield fake
    fake.stop()


@pytest.fixture
def app(slack):
    """The Slack app as `pulumi up` creates it (SlackAppProvider.create against the fake)."""
    token, _ = slack.issue_config_tokens()
    return (
        SlackAppProvider()
        .create({"manifest": manifest(), "config_token": token, "api_url": slack.url + "/api/", "token_file": ""})
        .outs
    )


@pytest.fixture
def installer(start_bot, sm, app):
    """The function as the managed stack deploys it: every secret in Secret Manager, the bot token
    still the placeholder, SLACK_CLIENT_ID literal, SLACK_CLIENT_SECRET a version name."""
    for var, value in {
        "SLACK_SIGNING_SECRET": app["signing_secret"],
        "SLACK_BOT_TOKEN": "unset",
        "OPENAI_API_KEY": "sk-test",
        "SLACK_CLIENT_SECRET": app["client_secret"],
    }.items():
        sm.set(IDS[var], value)
    return start_bot(
        SECRET_MANAGER_ENDPOINT=sm.url,
        FUNCTION_URL=FUNCTION_URL,
        SLACK_CLIENT_ID=app["client_id"],
        SLACK_BOT_SCOPES=bot_scopes(manifest()),
        **{var: sm.ref(sid) for var, sid in IDS.items()},
    )


def bot_token_versions(sm):
    return [v["value"] for v in sm.secrets[sm.name(IDS["SLACK_BOT_TOKEN"])]]


def begin(bot):
    r = bot.request("GET", "/slack/install")
    assert r.status == 302, r.body
    query = {k: v[0] for k, v in parse_qs(urlparse(r.headers["Location"]).query).items()}
    return r, query, r.headers["Set-Cookie"].split(";")[0]


def finish(bot, query: dict, cookie: str | None):
    return bot.request("GET", "/slack/oauth_redirect?" + urlencode(query), headers={"Cookie": cookie} if cookie else {})


def test_full_install_writes_a_new_bot_token_version_and_the_same_process_answers_with_it(installer, slack, sm, app, model):
    r, query, cookie = begin(installer)
    assert r.headers["Location"].startswith("https://slack.com/oauth/v2/authorize?")
    assert query["client_id"] == app["client_id"] and query["redirect_uri"] == REDIRECT
    assert query["scope"].split(",") == manifest()["oauth_config"]["scopes"]["bot"]
    assert all(flag in r.headers["Set-Cookie"] for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Max-Age=600"))
    code = slack.authorize(query["client_id"], query["redirect_uri"])  # the user clicks Allow
    done = finish(installer, {"code": code, "state": query["state"]}, cookie)
    assert done.status == 200, done.body
    assert b"Installed" in done.body and f"app_redirect?app={app['app_id']}&amp;team=T1".encode() in done.body
    versions = bot_token_versions(sm)
    assert versions[0] == "unset" and len(versions) == 2 and versions[1].startswith("xoxb-installed-")
    assert sm.access_count[sm.name(IDS["SLACK_BOT_TOKEN"])] == 2  # cold start, then re-read right after writing
    slack.valid_tokens = {versions[1]}  # only the installed token works from now on
    ts = slack.add_message("D1", "hello")
    assert installer.post_json(dm("hello", ts), secret=app["signing_secret"]).status == 200
    msgs = wait_for(finished(slack, "D1", ts), timeout=15)
    assert msgs[0]["text"] == model.default_plan.text
    assert installer.alive() and versions[1] not in installer.logs() and app["client_secret"] not in installer.logs()


def test_forged_expired_other_browser_and_replayed_state_are_refused_and_write_nothing(installer, slack, sm, app):
    _, query, cookie = begin(installer)
    code = slack.authorize(query["client_id"], query["redirect_uri"])
    forged = query["state"][:-3] + ("AAA" if not query["state"].endswith("AAA") else "BBB")
    r = finish(installer, {"code": code, "state": forged}, cookie)
    assert r.status == 400 and b"forged" in r.body
    old = OAuthStates.for_client_secret(app["client_secret"], clock=lambda: time.time() - 11 * 60)
    expired, nonce = old.issue()  # correctly signed, 11 minutes old
    r = finish(installer, {"code": code, "state": expired}, f"teambot_install_nonce={nonce}")
    assert r.status == 400 and b"expired" in r.body
    r = finish(installer, {"code": code, "state": query["state"]}, None)  # the link opened in another browser
    assert r.status == 403 and b"another browser" in r.body
    assert slack.count("oauth.v2.access") == 0 and bot_token_versions(sm) == ["unset"]
    assert finish(installer, {"code": code, "state": query["state"]}, cookie).status == 200
    again = slack.authorize(query["client_id"], query["redirect_uri"])
    r = finish(installer, {"code": again, "state": query["state"]}, cookie)
    assert r.status == 400 and b"already used" in r.body
    assert len(bot_token_versions(sm)) == 2 and slack.count("oauth.v2.access") == 1


def test_a_refused_code_exchange_writes_nothing(installer, slack, sm):
    _, query, cookie = begin(installer)
    r = finish(installer, {"code": "code-made-up", "state": query["state"]}, cookie)
    assert r.status == 400 and b"invalid_code" in r.body
    _, query, cookie = begin(installer)
    elsewhere = slack.authorize(query["client_id"], "https://attacker.example/cb")  # code bound to another redirect_uri
    r = finish(installer, {"code": elsewhere, "state": query["state"]}, cookie)
    assert r.status == 400 and b"bad_redirect_uri" in r.body
    assert bot_token_versions(sm) == ["unset"]


def test_slacks_error_redirect_is_a_clear_page_and_nothing_else(installer, slack, sm):
    _, query, cookie = begin(installer)
    r = finish(installer, {"error": "access_denied", "state": query["state"]}, cookie)
    assert r.status == 403 and b"access_denied" in r.body and b"Nothing was changed" in r.body
    r = finish(installer, {"error": "<script>alert(1)</script>", "state": query["state"]}, cookie)
    assert r.status == 400 and b"<script>" not in r.body
    assert slack.count("oauth.v2.access") == 0 and bot_token_versions(sm) == ["unset"]
    assert finish(installer, {"state": query["state"]}, cookie).status == 400  # no code


def test_manual_path_has_no_install(bot):
    for path in ("/slack/install", "/slack/oauth_redirect?code=x&state=y"):
        r = bot.request("GET", path)
        assert r.status == 404 and b"install not configured" in r.body
    assert bot.request("POST", "/slack/install").status == 405


def test_pulumi_up_order_means_slacks_first_url_check_is_already_signed(start_bot, slack, sm):
    """create without URLs -> signing secret into Secret Manager -> function -> full manifest."""
    token, _ = slack.issue_config_tokens()
    base = {"config_token": token, "api_url": slack.url + "/api/", "token_file": ""}
    created = SlackAppProvider().create({**base, "manifest": manifest()}).outs
    assert slack.apps_state["url_checks"] == []  # nothing for Slack to verify yet
    sm.set(IDS["SLACK_SIGNING_SECRET"], created["signing_secret"])
    sm.set(IDS["SLACK_BOT_TOKEN"], "unset")
    sm.set(IDS["OPENAI_API_KEY"], "sk-test")
    bot = start_bot(
        SECRET_MANAGER_ENDPOINT=sm.url, **{var: sm.ref(sid) for var, sid in IDS.items() if var != "SLACK_CLIENT_SECRET"}
    )
    slack.apps_state["verify_urls"] = True  # Slack now POSTs a signed url_verification to each request URL
    SlackAppManifestProvider().create({**base, "app_id": created["app_id"], "manifest": manifest(url=bot.url + "/")})
    assert slack.apps_state["url_checks"] == [(bot.url + "/", True), (bot.url + "/", True)]
    assert "url_verification_unsigned" not in bot.logs()  # verified with the real secret, not the exception


# -- the state rules, in-process ------------------------------------------------------------------
class Clock:
    now = 1_800_000_000.0

    def __call__(self):
        return self.now


def test_state_is_single_use_expires_after_ten_minutes_and_is_bound_to_the_key_and_cookie():
    clock = Clock()
    states = OAuthStates.for_client_secret("s3cret", clock=clock)
    state, nonce = states.issue()
    with pytest.raises(StateRejected, match="forged"):
        OAuthStates.for_client_secret("other", clock=clock).redeem(state, nonce)
    with pytest.raises(StateRejected, match="another browser"):
        states.redeem(state, "not-the-cookie")
    clock.now += 599
    states.redeem(state, nonce)
    with pytest.raises(StateRejected, match="already used"):
        states.redeem(state, nonce)
    late, late_nonce = states.issue()
    clock.now += 601
    with pytest.raises(StateRejected, match="expired"):
        states.redeem(late, late_nonce)
    for junk in ("", "abc", "1.2", "x.y.z", f"{int(clock.now)}..sig"):
        with pytest.raises(StateRejected, match="forged"):
            states.redeem(junk, nonce)
