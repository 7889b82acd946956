"""Per-channel profiles: parsing and validation (function and Pulumi preview), the manifest's
conditional events, and end to end: a profile channel answers every top-level message once,
with its model, options and language; other channels are unchanged."""

import json

import pytest
import yaml

from infra.manifest import TEMPLATE, render
from teambot.ack.payloads import job_from_event
from teambot.core.profiles import ChannelProfile, ProfileError, parse_profiles
from teambot.core.settings import Settings
from teambot.handlers import load_handlers
from tests.e2e.test_answer_e2e import finished
from tests.harness import dm, event_envelope, mention, settle, wait_for
from tests.pulumi_stack import run_stack

PROFILES = {
    "C5": {
        "instructions": "Answer in French.",
        "model": "profile-model",
        "max_answer_tokens": 300,
        "reasoning_effort": "low",
        "answer_every_message": True,
    },
    "C6": {"answer_every_message": True, "translate_to": "German"},
}


def channel_message(text, ts, *, channel="C5", user="U1", thread_ts=None, **extra):
    event = {
        "type": "message",
        "channel_type": "channel",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        **extra,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event_envelope(event, event_id=f"Evc{ts}")


# -- parsing -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, named",
    [
        ({"C1": {"modle": "x"}}, ["'C1'", "'modle'"]),
        ({"C2": {"max_answer_tokens": "300"}}, ["'C2'", "'max_answer_tokens'"]),
        ({"C3": {"max_answer_tokens": 0}}, ["'C3'", "'max_answer_tokens'"]),
        ({"C4": {"answer_every_message": "yes"}}, ["'C4'", "'answer_every_message'"]),
        ({"C5": {"reasoning_effort": "extreme"}}, ["'C5'", "'reasoning_effort'"]),
        ({"C6": {"translate_to": ""}}, ["'C6'", "'translate_to'"]),
        ({"C7": "Translate to German"}, ["'C7'"]),
    ],
)
def test_a_bad_profile_names_the_channel_and_the_key(raw, named):
    with pytest.raises(ProfileError) as failure:
        parse_profiles(json.dumps(raw))
    assert all(part in str(failure.value) for part in named), str(failure.value)
    with pytest.raises(ValueError):  # the function refuses to start on it too
        Settings.from_env({"CHANNEL_PROFILES": json.dumps(raw)})


def test_profiles_parse_and_channel_prompts_are_instructions_only_profiles():
    settings = Settings.from_env(
        {
            "CHANNEL_PROFILES": json.dumps(PROFILES),
            "CHANNEL_PROMPTS": json.dumps({"C5": "ignored: the profile has its own", "C9": "Be brief."}),
        }
    )
    assert settings.profile("C5").instructions == "Answer in French."
    assert settings.profile("C9") == ChannelProfile(instructions="Be brief.")
    assert settings.profile("C1") == ChannelProfile()
    assert settings.model_options("C5") == {"model": "profile-model", "max_answer_tokens": 300, "reasoning_effort": "low"}
    assert settings.model_options("C9") == {}
    assert parse_profiles("") == {} and parse_profiles("  ") == {}
    with pytest.raises(ProfileError, match="not valid JSON"):
        parse_profiles("{C5: }")
    with pytest.raises(ValueError, match="VISION_ENABLED"):
        Settings.from_env({"VISION_ENABLED": "maybe"})
    assert Settings.from_env({}).vision_enabled and not Settings.from_env({"VISION_ENABLED": "false"}).vision_enabled


def test_which_channel_messages_become_questions():
    settings = Settings.from_env({"CHANNEL_PROFILES": json.dumps(PROFILES)})
    registry = load_handlers()
    parse = lambda envelope: job_from_event(envelope, registry, settings)  # noqa: E731
    assert parse(channel_message("hello", "10.000001")).kind == "answer"
    assert parse(channel_message("hello", "10.000002", channel="C1")) is None  # no profile: mentions only
    assert parse(channel_message("a reply", "10.000003", thread_ts="10.000001")) is None  # replies need a mention
    assert parse(channel_message("a parent", "10.000004", thread_ts="10.000004")) is not None
    assert parse(channel_message("me", "10.000005", user="UBOT")) is None
    assert parse(channel_message("other bot", "10.000006", bot_id="B9")) is None
    assert parse(channel_message("edit", "10.000007", subtype="message_changed")) is None
    assert parse(channel_message("bot", "10.000008", subtype="bot_message")) is None
    group = channel_message("private", "10.000009")
    group["event"]["channel_type"] = "group"
    assert parse(group) is not None
    both = [parse(channel_message("<@UBOT> hi", "10.000010")), parse(mention("<@UBOT> hi", "10.000010", channel="C5"))]
    assert both[0].dedup_key() == both[1].dedup_key()  # one message, one answer


# -- deploy --------------------------------------------------------------------------------------
def test_a_bad_profile_fails_at_preview_naming_channel_and_key():
    with pytest.raises(Exception) as failure:
        run_stack({"channelProfiles": json.dumps({"C0ABC": {"answer_every_message": "yes"}})})
    message = str(failure.value)
    assert "channelProfiles" in message and "'C0ABC'" in message and "'answer_every_message'" in message


def test_channel_events_are_requested_only_when_a_profile_answers_every_message():
    _, outputs = run_stack({"channelProfiles": json.dumps(PROFILES), "visionEnabled": "false"})
    manifest = yaml.safe_load(outputs["slack_manifest"])
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"message.channels", "message.groups"} <= set(events)
    assert {"channels:history", "groups:history", "files:read"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    mocks, outputs = run_stack({"channelProfiles": json.dumps({"C5": {"model": "m"}})})
    plain = yaml.safe_load(outputs["slack_manifest"])
    assert not {"message.channels", "message.groups"} & set(plain["settings"]["event_subscriptions"]["bot_events"])
    assert "files:read" in plain["oauth_config"]["scopes"]["bot"]
    env = mocks.one("cloudfunctionsv2/function:Function").inputs["serviceConfig"]["environmentVariables"]
    assert json.loads(env["CHANNEL_PROFILES"]) == {"C5": {"model": "m"}}
    text = render(TEMPLATE.read_text(), function_url="https://x", bot_name="B", every_message=True)
    assert text == render(TEMPLATE.read_text(), function_url="https://x", bot_name="B", every_message=True)


# -- end to end ----------------------------------------------------------------------------------
@pytest.fixture
def profiled(start_bot):
    return start_bot(CHANNEL_PROFILES=json.dumps(PROFILES))


def test_a_profile_channel_answers_every_top_level_message_once_with_its_model(profiled, slack, model):
    bot = profiled
    first = slack.add_message("C5", "Quelle heure est-il ?")
    second = slack.add_message("C5", "<@UBOT> et demain ?")
    assert bot.post_json(channel_message("Quelle heure est-il ?", first)).status == 200
    # A mention in a profile channel arrives twice (message.channels and app_mention), and Slack retries.
    bot.post_json(channel_message("<@UBOT> et demain ?", second))
    bot.post_json(mention("<@UBOT> et demain ?", second, channel="C5"))
    bot.post_json(channel_message("<@UBOT> et demain ?", second), retry=1)
    reply = slack.add_message("C5", "merci", thread_ts=first)  # a reply without mention: not answered
    bot.post_json(channel_message("merci", reply, thread_ts=first))
    for ts in (first, second):
        wait_for(finished(slack, "C5", ts))
    settle()
    assert len(model.requests) == 2
    assert [len(slack.bot_messages("C5", ts)) for ts in (first, second)] == [1, 1]  # the reply got nothing
    assert slack.bot_messages("C5", first)[0]["metadata"]["event_payload"]["reply_to"] == first
    for request in model.requests:
        body = request.body
        assert body["model"] == "profile-model"
        assert body["max_completion_tokens"] == 300 and body["reasoning_effort"] == "low"
        assert "Answer in French." in body["messages"][0]["content"]
    records = [r for r in bot.log_records() if r.get("message") == "answer"]
    assert {r["model"] for r in records} == {"profile-model"}


def test_other_channels_are_unchanged(profiled, slack, model):
    bot = profiled
    quiet = slack.add_message("C1", "no mention here")
    bot.post_json(channel_message("no mention here", quiet, channel="C1"))
    ts = slack.add_message("C1", "<@UBOT> hello")
    bot.post_json(mention("<@UBOT> hello", ts))
    dm_ts = slack.add_message("D1", "hi")
    bot.post_json(dm("hi", dm_ts))
    wait_for(finished(slack, "C1", ts))
    wait_for(finished(slack, "D1", dm_ts))
    settle()
    assert len(model.requests) == 2 and slack.bot_messages("C1", quiet) == []
    for request in model.requests:
        assert request.body["model"] == "test-model"
        assert "reasoning_effort" not in request.body and "max_completion_tokens" not in request.body
        assert "French" not in request.body["messages"][0]["content"]


def test_a_translation_channel_translates_every_message(profiled, slack, model):
    bot = profiled
    ts = slack.add_message("C6", "The release is on Friday.")
    bot.post_json(channel_message("The release is on Friday.", ts, channel="C6"))
    wait_for(finished(slack, "C6", ts))
    sent = model.requests[0].body["messages"]
    assert sent[0]["role"] == "system" and "into German" in sent[0]["content"]
    assert sent[1:] == [{"role": "user", "content": "The release is on Friday."}]


def test_a_stack_managed_app_gets_the_channel_events_too(tmp_path, monkeypatch):
    from tests.fakes.slack_apps_api import manifest_problems

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # where infra/config_tokens.py keeps the config token
    mocks, outputs = run_stack({"slackConfigToken": "xoxe.xoxp-1-CONFIG", "channelProfiles": json.dumps(PROFILES)})
    manifest = mocks.one("dynamic/teambot:SlackApp").inputs["manifest"]
    assert {"message.channels", "message.groups"} <= set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert manifest_problems(manifest) == []
    assert yaml.safe_load(outputs["slack_manifest"]) == manifest
