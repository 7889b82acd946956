"""Secrets from a fake Secret Manager (REST, driven by the real client): cold start, rotation of
each key while the function runs, refresh rate limits, failures, and no secret in the logs."""

import time

import pytest

from tests.e2e.test_answer_e2e import finished
from tests.fakes.metadata_server import FakeMetadataServer
from tests.fakes.openai_api import Plan
from tests.fakes.secret_manager import FakeSecretManager
from tests.harness import SIGNING_SECRET, dm, wait_for

IDS = {
    "SLACK_SIGNING_SECRET": "slack-bot-slack-signing-secret",
    "SLACK_BOT_TOKEN": "slack-bot-slack-bot-token",
    "OPENAI_API_KEY": "slack-bot-openai-api-key",
}
VALUES = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": "xoxb-test", "OPENAI_API_KEY": "sk-test"}


@pytest.fixture
def sm():
    fake = FakeSecretManager().start()
    for var, sid in IDS.items():
        fake.set(sid, VALUES[var])
    yield fake
    fake.stop()


@pytest.fixture
def start_sm_bot(start_bot, sm):
    def start(**env):
        refs = {var: sm.ref(sid) for var, sid in IDS.items()}
        return start_bot(SECRET_MANAGER_ENDPOINT=sm.url, **{**refs, **env})

    return start


def answer_once(bot, slack, text="hi", channel="D1", secret=SIGNING_SECRET):
    ts = slack.add_message(channel, text)
    r = bot.post_json(dm(text, ts, channel=channel), secret=secret)
    assert r.status == 200, r.body
    return wait_for(finished(slack, channel, ts), timeout=15)


def test_cold_start_resolves_all_three_from_secret_manager(start_sm_bot, sm, slack, model):
    bot = start_sm_bot()
    msgs = answer_once(bot, slack)
    assert msgs[0]["text"] == model.default_plan.text
    for sid in IDS.values():
        assert sm.access_count[sm.name(sid)] == 1


def test_on_cloud_run_the_reads_carry_the_metadata_servers_token(start_sm_bot, sm, slack, model):
    metadata = FakeMetadataServer().start()
    try:
        sm.valid_tokens = {"ya29.fake-1"}  # anything else is a 401 UNAUTHENTICATED
        bot = start_sm_bot(K_SERVICE="slack-bot", GCE_METADATA_HOST=metadata.host)
        msgs = answer_once(bot, slack)
        assert msgs[0]["text"] == model.default_plan.text
        assert metadata.token_requests == 1  # one token for the three concurrent reads
        assert all(sm.access_count[sm.name(sid)] == 1 for sid in IDS.values())
        assert "ya29.fake" not in bot.logs()
    finally:
        metadata.stop()


def test_openai_key_rotation_retries_once_with_the_new_key(start_sm_bot, sm, slack, model):
    bot = start_sm_bot()
    answer_once(bot, slack, "first")
    sm.set(IDS["OPENAI_API_KEY"], "sk-new")
    model.valid_keys = {"sk-new"}  # the old key is revoked upstream
    msgs = answer_once(bot, slack, "second", channel="D2")
    assert msgs[0]["text"] == model.default_plan.text
    assert [r.key for r in model.requests] == ["sk-test", "sk-test", "sk-new"]
    assert sm.access_count[sm.name(IDS["OPENAI_API_KEY"])] == 2


def test_slack_bot_token_rotation_retries_once_with_the_new_token(start_sm_bot, sm, slack, model):
    bot = start_sm_bot()
    answer_once(bot, slack, "first")
    sm.set(IDS["SLACK_BOT_TOKEN"], "xoxb-new")
    slack.valid_tokens = {"xoxb-new"}
    msgs = answer_once(bot, slack, "second", channel="D2")
    assert msgs[0]["text"] == model.default_plan.text
    assert sm.access_count[sm.name(IDS["SLACK_BOT_TOKEN"])] == 2


def test_signing_secret_rotation_is_picked_up_on_the_first_new_signature(start_sm_bot, sm, slack, model):
    bot = start_sm_bot()
    answer_once(bot, slack, "first")
    sm.set(IDS["SLACK_SIGNING_SECRET"], "rotated-signing-secret")
    msgs = answer_once(bot, slack, "second", channel="D2", secret="rotated-signing-secret")
    assert msgs[0]["text"] == model.default_plan.text
    assert sm.access_count[sm.name(IDS["SLACK_SIGNING_SECRET"])] == 2


def test_bad_signature_burst_reads_the_signing_secret_at_most_once_a_minute(start_sm_bot, sm, slack, model):
    bot = start_sm_bot()
    statuses = {bot.post_json(dm("x", f"1700000000.{i:06d}"), secret="wrong").status for i in range(60)}
    assert statuses == {401}
    assert sm.access_count[sm.name(IDS["SLACK_SIGNING_SECRET"])] <= 2  # cold start + one refresh
    assert slack.calls == [] and model.requests == []


def test_ttl_re_reads_in_the_background(start_sm_bot, sm, slack, model):
    bot = start_sm_bot(SECRET_TTL_SECONDS="1")
    answer_once(bot, slack, "first")
    sm.set(IDS["OPENAI_API_KEY"], "sk-next")
    model.valid_keys = {"sk-test", "sk-next"}  # both valid during a graceful rotation
    time.sleep(1.2)
    answer_once(bot, slack, "second", channel="D2")  # triggers the background re-read
    # The re-read is done once the function holds the new value, which it logs (the name only).
    rotated = wait_for(lambda: [r for r in bot.log_records() if r.get("message") == "secret_rotated"])
    assert [r["secret"] for r in rotated] == ["OPENAI_API_KEY"] and "sk-next" not in bot.logs()
    answer_once(bot, slack, "third", channel="D3")
    assert model.requests[-1].key == "sk-next"
    assert len(model.requests) == 3  # picked up by the TTL alone: no refusal, no retry


@pytest.mark.parametrize("failure", ["missing", "denied", "disabled", "down"])
def test_unreadable_signing_secret_means_503_a_clear_log_and_a_live_process(start_sm_bot, sm, slack, model, failure):
    sid = IDS["SLACK_SIGNING_SECRET"]
    if failure == "missing":
        sm.secrets.pop(sm.name(sid))
    elif failure == "denied":
        sm.denied.add(sm.name(sid))
    elif failure == "disabled":
        sm.secrets[sm.name(sid)][-1]["state"] = "DISABLED"
    else:
        sm.down = True
    bot = start_sm_bot()
    r = bot.post_json(dm("hi", "1700000000.000100"))
    assert r.status == 503 and "X-Slack-No-Retry" not in r.headers
    errors = [
        rec for rec in bot.log_records() if rec.get("message") == "secret_unavailable" and rec["secret"] == "SLACK_SIGNING_SECRET"
    ]
    assert errors and errors[0]["severity"] == "ERROR" and errors[0]["resource"] == sm.ref(sid)
    expected = {"missing": "does not exist", "denied": "secretAccessor", "disabled": "disabled", "down": "unavailable"}
    assert expected[failure] in errors[0]["likely_cause"]
    assert bot.alive() and slack.calls == [] and model.requests == []
    # That it recovers by itself once Secret Manager is back, after the failure back-off, is shown
    # on a fake clock: tests/integration/test_secret_store.py (the same verifier and store).


def test_unreadable_openai_key_is_explained_in_the_thread(start_sm_bot, sm, slack, model):
    sm.denied.add(sm.name(IDS["OPENAI_API_KEY"]))
    bot = start_sm_bot()
    msgs = answer_once(bot, slack)
    assert "can't be read from Secret Manager" in msgs[-1]["text"]
    assert model.requests == []


def test_no_secret_value_or_message_text_in_logs(start_sm_bot, sm, slack, model):
    bot = start_sm_bot()
    answer_once(bot, slack, "my confidential question")
    sm.set(IDS["OPENAI_API_KEY"], "sk-rotated-value")
    model.valid_keys = {"sk-rotated-value"}
    answer_once(bot, slack, "another private thing", channel="D2")
    model.plans = [Plan(fail="500")] * 3  # an error answer (the SDK retries twice)
    assert ":warning:" in answer_once(bot, slack, "a secret plan that fails", channel="D3")[-1]["text"]
    sm.denied.add(sm.name(IDS["SLACK_BOT_TOKEN"]))
    bot.post_json(dm("x", "1700000000.000001"), secret="wrong-secret-value")
    logs = bot.logs()
    for secret in ["xoxb-test", "sk-test", "sk-rotated-value", SIGNING_SECRET, "wrong-secret-value"]:
        assert secret not in logs
    for text in ["confidential", "private thing", "secret plan", model.default_plan.text]:
        assert text not in logs
    assert '"message":"answer"' in logs  # the check looked at real logs
