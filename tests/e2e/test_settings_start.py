"""Configuration that fails before traffic (issue 18): the real function, started by
functions-framework as Cloud Run starts it, exits at start with ONE line naming the variable when a
setting is malformed (a revision whose container fails to start takes no traffic:
cloud.google.com/run/docs/troubleshooting#container-failed-to-start). A missing secret is
different: the process stays up and answers 503 naming the secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.harness import REPO, SIGNING_SECRET, dm

BASE = {"SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_BOT_TOKEN": "xoxb-test", "OPENAI_API_KEY": "sk-test"}


def start_function(env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    full = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        **BASE,
        **env,
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "functions_framework",
            "--target",
            "slack_bot",
            "--source",
            str(REPO / "function" / "main.py"),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        env=full,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "name,value,why",
    [
        ("MAX_CONTEXT_TOKENS", "lots", "must be an integer"),
        ("CHANNEL_PROFILES", "{not json", "is not valid JSON"),
        ("CHANNEL_PROFILES", '{"C1": {"reasoning_effort": "ultra"}}', "reasoning_effort"),
        ("USAGE_STORE", "redis", "must be memory or firestore"),
        ("VISION_ENABLED", "yes", "must be true or false"),
        ("ALLOWED_EXTERNAL_TEAM_IDS", "T1,*", "not both"),
    ],
)
def test_malformed_setting_stops_the_process_with_one_line(name, value, why):
    done = start_function({name: value})
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"teambot: refusing to start: {name}: ") and why in lines[0]


def test_settings_problems_name_every_bad_variable():
    from teambot.core.settings import settings_problems

    problems = settings_problems({"MAX_CONTEXT_TOKENS": "1e3", "MODEL_TIMEOUT_SECONDS": "nan", "MAX_FILES": "3"})
    assert sorted(p.name for p in problems) == ["MAX_CONTEXT_TOKENS", "MODEL_TIMEOUT_SECONDS"]
    assert settings_problems({"MAX_CONTEXT_TOKENS": "24000", "CHANNEL_PROFILES": '{"C1": {"model": "m"}}'}) == []


def test_a_missing_secret_keeps_the_process_up_and_answers_503(start_bot, slack):
    bot = start_bot(
        SLACK_SIGNING_SECRET="projects/p/secrets/missing/versions/latest", SECRET_MANAGER_ENDPOINT="http://127.0.0.1:9"
    )  # nothing listens there
    ts = slack.add_message("D1", "hi")
    r = bot.post_json(dm("hi", ts))
    assert r.status == 503 and bot.alive()
    named = [
        rec
        for rec in bot.log_records()
        if rec.get("severity") == "ERROR" and "SLACK_SIGNING_SECRET" in str(rec.get("secret") or rec.get("name") or rec)
    ]
    assert named


@pytest.mark.parametrize(
    "env,key,why",
    [
        ({"MODEL_PRICES": "[1, 2]"}, "modelPrices", "must be a JSON object"),
        ({"SUGGESTED_PROMPTS": "[]"}, "suggestedPrompts", "1 to 4 prompts"),
        ({"ALLOWED_EXTERNAL_TEAM_IDS": "acme"}, "allowedExternalTeamIds", "not a Slack team id"),
        ({"CHANNEL_PROFILES": "{not json"}, "channelProfiles", "not valid JSON"),
    ],
)
def test_pulumi_preview_refuses_the_same_values_with_the_same_parser(env, key, why):
    from infra import config
    from teambot.core import settings as function_env

    problems = config.check(config.defaults("p", function_env=env))
    assert len(problems) == 1 and problems[0].startswith(key + ":") and why in problems[0]
    # the very parser table the function runs at start
    assert config.function_settings.SETTING_PARSERS.keys() == function_env.SETTING_PARSERS.keys()
    assert [p.name for p in function_env.settings_problems(env)] == list(env)
