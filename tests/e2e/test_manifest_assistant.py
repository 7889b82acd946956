"""The manifest's AI app parts: agent_view (Slack's agent messaging experience; no assistant_view)
with the same suggested prompts the function sends,
Pulumi config `suggestedPrompts` reaching both, and the Socket Mode variant for `make dev`."""

import json
import subprocess
import sys

import pytest
import yaml

from infra.manifest import AGENT_DESCRIPTION_LIMIT, TEMPLATE, render
from teambot.core.settings import DEFAULT_SUGGESTED_PROMPTS, Settings, suggested_prompts
from tests.harness import REPO
from tests.pulumi_stack import run_stack

KEYS = {"openaiApiKey": "sk-x", "slackBotToken": "xoxb-x", "slackSigningSecret": "s"}


def test_the_template_suggests_the_functions_default_prompts():
    features = yaml.safe_load(TEMPLATE.read_text())["features"]
    view = features["agent_view"]
    assert "assistant_view" not in features  # new apps can only use agent_view (migration guide)
    assert 0 < len(view["agent_description"]) <= AGENT_DESCRIPTION_LIMIT
    assert view["suggested_prompts"] == [dict(p) for p in DEFAULT_SUGGESTED_PROMPTS]
    assert Settings.from_env({}).suggested_prompts == DEFAULT_SUGGESTED_PROMPTS


def test_assistant_scope_events_and_each_new_scope_line_says_what_needs_it():
    text = TEMPLATE.read_text()
    manifest = yaml.safe_load(text)
    assert {"assistant:write", "channels:read", "groups:read"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_home_opened", "app_context_changed", "agent_session_stopped", "message.im", "app_mention"} <= events
    assert not {"assistant_thread_started", "assistant_thread_context_changed"} & events
    needs = {
        "assistant:write": "assistant.threads.setSuggestedPrompts",
        "channels:read": "conversations.info",
        "groups:read": "conversations.info",
    }
    for scope, method in needs.items():
        [line] = [line for line in text.splitlines() if line.strip().startswith(f"- {scope}")]
        assert method in line.partition("#")[2]


def test_suggested_prompts_config_reaches_the_manifest_and_the_function():
    prompts = ["What did we ship?", {"title": "Standup", "message": "Write my standup notes from: "}]
    mocks, outputs = run_stack({**KEYS, "suggestedPrompts": json.dumps(prompts)})
    manifest = yaml.safe_load(outputs["slack_manifest"])
    expected = [
        {"title": "What did we ship?", "message": "What did we ship?"},
        {"title": "Standup", "message": "Write my standup notes from: "},
    ]
    assert manifest["features"]["agent_view"]["suggested_prompts"] == expected
    env = mocks.one("cloudfunctionsv2/function:Function").inputs["serviceConfig"]["environmentVariables"]
    assert [dict(p) for p in Settings.from_env({"SUGGESTED_PROMPTS": env["SUGGESTED_PROMPTS"]}).suggested_prompts] == expected


@pytest.mark.parametrize("raw", ["[]", '["a","b","c","d","e"]', '[{"title": "x"}]', '{"a": 1}', "[1]"])
def test_bad_suggested_prompts_are_refused(raw):
    with pytest.raises(ValueError):
        suggested_prompts(raw)


def test_the_socket_mode_variant_has_no_request_urls():
    manifest = yaml.safe_load(render(TEMPLATE.read_text(), function_url=None, bot_name="Dev", socket_mode=True))
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert "request_url" not in settings["event_subscriptions"] and "request_url" not in settings["interactivity"]
    assert settings["interactivity"]["is_enabled"]
    http = yaml.safe_load(render(TEMPLATE.read_text(), function_url="https://x/y", bot_name="Dev"))
    assert http["settings"]["socket_mode_enabled"] is False
    # Everything else is the same app: scopes, events, shortcuts, assistant view.
    for key in ("features", "oauth_config"):
        assert manifest[key] == http[key]
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == http["settings"]["event_subscriptions"]["bot_events"]


def test_make_manifest_dev_command_writes_the_variant():
    result = subprocess.run(
        [sys.executable, "-m", "infra.manifest", "--socket-mode"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["settings"]["socket_mode_enabled"] is True
    refused = subprocess.run([sys.executable, "-m", "infra.manifest"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "--socket-mode" in refused.stderr
