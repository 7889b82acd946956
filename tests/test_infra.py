"""The Pulumi program's resource graph, under mocks: least privilege, no default service
accounts, no secret in the function's config, only the function public, redeploy on code change
only, and a manifest that matches the function and the code."""

import json
import shutil

import pytest
import yaml

from infra import policies
from infra.manifest import TEMPLATE, render
from infra.source_archive import object_name, source_hash
from teambot.registry import load_handlers
from tests.harness import REPO
from tests.pulumi_stack import GCP_PROJECT, reveal, run_stack

KEYS = {"openaiApiKey": "sk-live-SECRET-123", "slackBotToken": "xoxb-live-SECRET-456", "slackSigningSecret": "sigSECRET789"}
RUNTIME = f"serviceAccount:slack-bot-run@{GCP_PROJECT}.iam.gserviceaccount.com"
FUNCTION_URL = f"https://europe-west1-{GCP_PROJECT}.cloudfunctions.net/slack-bot"


@pytest.fixture(scope="module")
def stack():
    return run_stack(KEYS)


def grants(mocks):
    return [r for r in mocks.resources if "iammember" in r.type.lower()]


def test_runtime_identity_holds_exactly_the_listed_grants(stack):
    mocks, _ = stack
    held = sorted((r.type.split(":")[1].split("/")[0], r.inputs["role"]) for r in grants(mocks) if r.inputs["member"] == RUNTIME)
    assert held == [
        ("cloudtasks", "roles/cloudtasks.enqueuer"),
        ("secretmanager", "roles/secretmanager.secretAccessor"),
        ("secretmanager", "roles/secretmanager.secretAccessor"),
        ("secretmanager", "roles/secretmanager.secretAccessor"),
        ("serviceaccount", "roles/iam.serviceAccountUser"),
    ]
    act_as = mocks.one("serviceaccount/iAMMember:IAMMember")
    assert act_as.inputs["serviceAccountId"].endswith(f"slack-bot-tasks@{GCP_PROJECT}.iam.gserviceaccount.com")
    accessed = sorted(r.inputs["secretId"] for r in mocks.of_type("SecretIamMember"))
    assert accessed == ["slack-bot-openai-api-key", "slack-bot-slack-bot-token", "slack-bot-slack-signing-secret"]
    assert all(r.inputs["member"] == RUNTIME for r in mocks.of_type("SecretIamMember"))


def test_nothing_project_wide_for_the_runtime_identity(stack):
    mocks, _ = stack
    project_grants = mocks.of_type("projects/iAMMember:IAMMember")
    assert project_grants and all("-build@" in r.inputs["member"] for r in project_grants)
    assert not mocks.of_type("IAMBinding") and not mocks.of_type("IAMPolicy")


def test_no_default_service_account_anywhere(stack):
    mocks, _ = stack
    fn = mocks.one("cloudfunctionsv2/function:Function")
    assert fn.inputs["serviceConfig"]["serviceAccountEmail"] == f"slack-bot-run@{GCP_PROJECT}.iam.gserviceaccount.com"
    assert fn.inputs["buildConfig"]["serviceAccount"].endswith(f"slack-bot-build@{GCP_PROJECT}.iam.gserviceaccount.com")
    everything = json.dumps([r.inputs for r in mocks.resources], default=str)
    assert "compute@developer.gserviceaccount.com" not in everything and "appspot.gserviceaccount.com" not in everything
    assert policies.no_default_service_accounts(policies.as_graph(mocks.resources)) == []


def test_secret_values_never_reach_the_function(stack):
    mocks, _ = stack
    fn = mocks.one("cloudfunctionsv2/function:Function")
    dumped = json.dumps(fn.inputs)
    for value in KEYS.values():
        assert value not in dumped
    env = fn.inputs["serviceConfig"]["environmentVariables"]
    assert env["OPENAI_API_KEY"] == f"projects/{GCP_PROJECT}/secrets/slack-bot-openai-api-key/versions/latest"
    assert env["SLACK_BOT_TOKEN"].endswith("/secrets/slack-bot-slack-bot-token/versions/latest")
    assert env["SLACK_SIGNING_SECRET"].endswith("/secrets/slack-bot-slack-signing-secret/versions/latest")
    assert "SECRET_MANAGER_ENDPOINT" not in env
    versions = mocks.of_type("secretmanager/secretVersion:SecretVersion")
    assert len(versions) == 3 and all("secretData" not in v.inputs for v in versions)  # write-only only
    assert all(v.inputs["deletionPolicy"] == "DISABLE" for v in versions)
    assert sorted(reveal(v.inputs["secretDataWo"]) for v in versions) == sorted(KEYS.values())  # and marked secret


def test_first_deploy_without_keys_stores_placeholders():
    mocks, _ = run_stack({})
    versions = mocks.of_type("secretmanager/secretVersion:SecretVersion")
    assert [reveal(v.inputs["secretDataWo"]) for v in versions] == ["unset"] * 3


def test_only_the_function_is_public(stack):
    mocks, _ = stack
    public = [r for r in grants(mocks) if r.inputs["member"] in ("allUsers", "allAuthenticatedUsers")]
    assert len(public) == 1
    assert public[0].type == "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
    assert public[0].inputs["role"] == "roles/run.invoker" and public[0].inputs["name"] == "slack-bot"
    bucket = mocks.one("storage/bucket:Bucket")
    assert bucket.inputs["uniformBucketLevelAccess"] is True and bucket.inputs["publicAccessPrevention"] == "enforced"
    assert policies.only_function_public(policies.as_graph(mocks.resources)) == []


def test_queue_audience_and_task_url_match_the_function_url(stack):
    mocks, outputs = stack
    env = mocks.one("cloudfunctionsv2/function:Function").inputs["serviceConfig"]["environmentVariables"]
    assert env["FUNCTION_URL"] == FUNCTION_URL == outputs["function_url"]
    assert env["TASKS_QUEUE"] == f"projects/{GCP_PROJECT}/locations/europe-west1/queues/slack-bot-answers"
    assert env["TASKS_INVOKER_SA"] == f"slack-bot-tasks@{GCP_PROJECT}.iam.gserviceaccount.com"
    queue = mocks.one("cloudtasks/queue:Queue")
    assert queue.inputs["retryConfig"]["maxAttempts"] == 3
    assert queue.inputs["rateLimits"]["maxConcurrentDispatches"] == 50
    # The invoker identity may invoke the service (so tasks work even if it is made private).
    invokers = [r for r in mocks.of_type("ServiceIamMember") if r.inputs["member"].startswith("serviceAccount:slack-bot-tasks@")]
    assert len(invokers) == 1


def test_apis_enabled_and_left_on_destroy(stack):
    mocks, _ = stack
    services = mocks.of_type("projects/service:Service")
    assert {s.inputs["service"] for s in services} >= {
        "cloudfunctions.googleapis.com", "run.googleapis.com", "cloudbuild.googleapis.com", "artifactregistry.googleapis.com",
        "secretmanager.googleapis.com", "cloudtasks.googleapis.com", "iam.googleapis.com"}
    assert all(s.inputs["disableOnDestroy"] is False for s in services)


def test_function_settings(stack):
    mocks, _ = stack
    fn = mocks.one("cloudfunctionsv2/function:Function").inputs
    assert fn["buildConfig"]["entryPoint"] == "slack_bot" and fn["buildConfig"]["runtime"] == "python312"
    sc = fn["serviceConfig"]
    assert (sc["availableMemory"], sc["timeoutSeconds"], sc["minInstanceCount"], sc["maxInstanceCount"]) == ("512Mi", 540, 0, 10)
    assert fn["buildConfig"]["source"]["storageSource"]["object"] == object_name(REPO / "function")


def test_code_change_renames_the_archive_and_nothing_else_does(tmp_path):
    src = tmp_path / "function"
    shutil.copytree(REPO / "function", src, ignore=shutil.ignore_patterns("__pycache__"))
    before = object_name(src)
    (src / "teambot" / "__pycache__").mkdir(exist_ok=True)
    (src / "teambot" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert object_name(src) == before  # build litter does not redeploy
    assert source_hash(src) == source_hash(REPO / "function")
    (src / "main.py").write_text((src / "main.py").read_text() + "\n# change\n")
    assert object_name(src) != before


def test_changing_a_key_adds_a_version_but_does_not_touch_the_function(stack):
    mocks_a, _ = stack
    mocks_b, _ = run_stack({**KEYS, "openaiApiKey": "sk-rotated-999"})
    fn_a = mocks_a.one("cloudfunctionsv2/function:Function").inputs
    fn_b = mocks_b.one("cloudfunctionsv2/function:Function").inputs
    assert fn_a == fn_b
    wo = lambda m: {r.name: r.inputs["secretDataWoVersion"] for r in m.of_type("SecretVersion")}  # noqa: E731
    a, b = wo(mocks_a), wo(mocks_b)
    changed = [k for k in a if a[k] != b[k]]
    assert changed == ["slack-bot-openai-api-key-version"]


def test_manifest_urls_and_shortcuts_match_the_function_and_the_code(stack):
    _, outputs = stack
    manifest = yaml.safe_load(outputs["slack_manifest"])
    settings = manifest["settings"]
    assert settings["event_subscriptions"]["request_url"] == FUNCTION_URL
    assert settings["interactivity"]["request_url"] == FUNCTION_URL and settings["interactivity"]["is_enabled"]
    assert {s["callback_id"] for s in manifest["features"]["shortcuts"]} == load_handlers().shortcuts
    assert all(len(s["name"]) <= 24 and s["type"] == "message" for s in manifest["features"]["shortcuts"])
    assert set(settings["event_subscriptions"]["bot_events"]) == {"message.im", "app_mention", "assistant_thread_started",
                                                                  "assistant_thread_context_changed"}
    assert {"chat:write", "im:history", "im:read", "im:write", "app_mentions:read", "channels:history",
            "groups:history", "commands"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    home = manifest["features"]["app_home"]
    assert home["messages_tab_enabled"] and home["messages_tab_read_only_enabled"] is False


def test_render_is_pure_and_names_the_bot():
    text = render(TEMPLATE.read_text(), function_url="https://x-y.cloudfunctions.net/z", bot_name="Helper")
    manifest = yaml.safe_load(text)
    assert manifest["display_information"]["name"] == manifest["features"]["bot_user"]["display_name"] == "Helper"
    assert text == render(TEMPLATE.read_text(), function_url="https://x-y.cloudfunctions.net/z", bot_name="Helper")


def test_policy_pack_validators_pass_on_the_stack(stack):
    mocks, _ = stack
    assert policies.check_all(policies.as_graph(mocks.resources)) == []


def test_every_config_key_read_is_declared_with_type_description_and_default():
    from infra.config import FUNCTION_ENV_KEYS, SECRET_KEYS, SETTING_KEYS

    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    declared = project["config"]
    read = {key for key, _ in SETTING_KEYS.values()} | set(SECRET_KEYS.values()) | set(FUNCTION_ENV_KEYS)
    assert read == set(declared), read ^ set(declared)
    for key, spec in declared.items():
        assert spec["type"] in ("string", "integer", "boolean", "array"), key  # what Pulumi.yaml accepts
        assert spec["description"] and "default" in spec, key
    assert project["main"] == "infra/" and project["runtime"]["name"] == "python"
    assert project["backend"]["url"].startswith("file://")


def test_config_values_reach_the_resources():
    mocks, outputs = run_stack({**KEYS, "name": "helper", "minInstances": "1", "memory": "1Gi",
                                "queueMaxAttempts": "2", "openaiModel": "gpt-x", "allowedTeamIds": "T1,T2"})
    fn = mocks.one("cloudfunctionsv2/function:Function").inputs
    assert fn["name"] == "helper" and fn["serviceConfig"]["minInstanceCount"] == 1
    assert fn["serviceConfig"]["availableMemory"] == "1Gi"
    env = fn["serviceConfig"]["environmentVariables"]
    assert env["OPENAI_MODEL"] == "gpt-x" and env["ALLOWED_TEAM_IDS"] == "T1,T2"
    assert mocks.one("cloudtasks/queue:Queue").inputs["retryConfig"]["maxAttempts"] == 2
    assert outputs["function_url"].endswith("/helper")
