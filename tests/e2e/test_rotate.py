"""`python -m infra.rotate`: add a version, check it upstream, then disable the old ones (or not)."""

import subprocess
import sys

import pytest

from tests.fakes.secret_manager import FakeSecretManager
from tests.harness import REPO


@pytest.fixture
def sm():
    fake = FakeSecretManager(project="p").start()
    fake.set("slack-bot-openai-api-key", "sk-old")
    fake.set("slack-bot-slack-bot-token", "xoxb-old")
    fake.set("slack-bot-slack-signing-secret", "old-signing")
    yield fake
    fake.stop()


def rotate(kind, value, sm, slack, model):
    env = {
        "PATH": "/usr/bin:/bin",
        "SECRET_MANAGER_ENDPOINT": sm.url,
        "OPENAI_BASE_URL": model.url + "/v1",
        "SLACK_API_URL": slack.url + "/api/",
        "OPENAI_API_KEY": "unused",
    }
    return subprocess.run(
        [sys.executable, "-m", "infra.rotate", kind, "--project", "p"],
        input=value,
        text=True,
        capture_output=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )


def states(sm, sid):
    return [v["state"] for v in sm.secrets[sm.name(sid)]]


def test_openai_key_rotation_checks_then_disables_the_old_version(sm, slack, model):
    model.valid_keys = {"sk-new"}
    result = rotate("openai", "sk-new\n", sm, slack, model)
    assert result.returncode == 0, result.stdout + result.stderr
    assert states(sm, "slack-bot-openai-api-key") == ["DISABLED", "ENABLED"]
    assert sm.secrets[sm.name("slack-bot-openai-api-key")][-1]["value"] == "sk-new"
    assert "check passed" in result.stdout and "sk-new" not in result.stdout + result.stderr


def test_failed_check_keeps_the_old_version_and_says_so(sm, slack, model):
    result = rotate("openai", "sk-typo", sm, slack, model)  # the fake only accepts sk-test
    assert result.returncode == 1
    assert states(sm, "slack-bot-openai-api-key") == ["ENABLED", "DISABLED"]
    assert "check failed" in result.stdout and "previous version stays in use" in result.stdout


def test_slack_bot_token_rotation_uses_auth_test(sm, slack, model):
    slack.valid_tokens = {"xoxb-new"}
    assert rotate("slack-bot-token", "xoxb-new", sm, slack, model).returncode == 0
    assert states(sm, "slack-bot-slack-bot-token") == ["DISABLED", "ENABLED"]
    assert rotate("slack-bot-token", "xoxb-bad", sm, slack, model).returncode == 1
    assert states(sm, "slack-bot-slack-bot-token") == ["DISABLED", "ENABLED", "DISABLED"]


def test_signing_secret_is_added_without_a_check_and_old_versions_stay(sm, slack, model):
    result = rotate("slack-signing-secret", "new-signing", sm, slack, model)
    assert result.returncode == 0 and "no online check" in result.stdout
    assert states(sm, "slack-bot-slack-signing-secret") == ["ENABLED", "ENABLED"]


def test_empty_stdin_is_refused(sm, slack, model):
    assert rotate("openai", "", sm, slack, model).returncode == 2
    assert states(sm, "slack-bot-openai-api-key") == ["ENABLED"]


def test_without_google_credentials_one_clear_line_and_no_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "missing.json")}
    result = subprocess.run(
        [sys.executable, "-m", "infra.rotate", "openai", "--project", "p"],
        input="sk-new",
        text=True,
        capture_output=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "gcloud auth application-default login" in lines[0] and "sk-new" not in result.stdout + result.stderr
