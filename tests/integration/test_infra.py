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
from teambot.handlers import load_handlers
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
        ("projects", "roles/datastore.user"),  # conditioned on the usage database: tests/integration/test_usage_infra.py
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
    # Firestore roles exist only at project level: that one grant is conditioned on the usage database.
    datastore = [r for r in project_grants if r.inputs["role"] == "roles/datastore.user" and r.inputs.get("condition")]
    assert project_grants and all("-build@" in r.inputs["member"] for r in project_grants if r not in datastore)
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
    assert env["TASKS_QUEUE"] == f"projects/{GCP_PROJECT}/locations/europe-west1/queues/slack-bot-answers-tplk00"
    assert env["TASKS_INVOKER_SA"] == f"slack-bot-tasks@{GCP_PROJECT}.iam.gserviceaccount.com"
    queue = mocks.one("cloudtasks/queue:Queue")
    assert queue.inputs["retryConfig"]["maxAttempts"] == 3
    # Cloud Tasks retries until maxAttempts AND maxRetryDuration are reached: the window must not add attempts.
    assert queue.inputs["retryConfig"]["maxRetryDuration"] == queue.inputs["retryConfig"]["minBackoff"] == "5s"
    assert queue.inputs["rateLimits"]["maxConcurrentDispatches"] == 50
    # No run.invoker for the tasks identity: the service is public anyway, and the task route
    # checks the OIDC token itself (infra/bot_function.py says why a private service can't work).
    assert [r.inputs["member"] for r in mocks.of_type("ServiceIamMember")] == ["allUsers"]


def test_apis_enabled_and_left_on_destroy(stack):
    mocks, _ = stack
    services = mocks.of_type("projects/service:Service")
    assert {s.inputs["service"] for s in services} >= {
        "cloudfunctions.googleapis.com",
        "run.googleapis.com",
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
        "secretmanager.googleapis.com",
        "cloudtasks.googleapis.com",
        "iam.googleapis.com",
    }
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
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "message.im",
        "app_mention",
        "app_home_opened",
        "app_context_changed",
        "agent_session_stopped",
    }
    # The rendered manifest keeps the template's scopes (their test: tests/unit/test_manifest_scopes.py).
    assert manifest["oauth_config"] == yaml.safe_load(TEMPLATE.read_text())["oauth_config"]
    home = manifest["features"]["app_home"]
    assert home["messages_tab_enabled"] and home["messages_tab_read_only_enabled"] is False
    assert home["home_tab_enabled"] is True  # usage figures (handlers/app_home.py)


def test_render_is_pure_and_names_the_bot():
    text = render(TEMPLATE.read_text(), function_url="https://x-y.cloudfunctions.net/z", bot_name="Helper")
    manifest = yaml.safe_load(text)
    assert manifest["display_information"]["name"] == manifest["features"]["bot_user"]["display_name"] == "Helper"
    assert text == render(TEMPLATE.read_text(), function_url="https://x-y.cloudfunctions.net/z", bot_name="Helper")


def test_policy_pack_validators_pass_on_the_stack(stack):
    mocks, _ = stack
    assert policies.check_all(policies.as_graph(mocks.resources)) == []


def test_every_pulumi_yaml_declaration_matches_the_config_table():
    from infra.config import CONFIG_TOKEN_KEYS, KEYS, KEYS_BY_NAME, StackConfig

    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    declared = project["config"]
    assert set(declared) == set(KEYS_BY_NAME), set(declared) ^ set(KEYS_BY_NAME)
    yaml_type = {str: "string", int: "integer", bool: "boolean", float: "string"}  # a project file has no float
    for name, spec in declared.items():
        key = KEYS_BY_NAME[name]
        assert spec["type"] == yaml_type[key.kind], name
        assert spec["description"] and "default" in spec, name
        assert key.kind(spec["default"]) == key.default and type(key.default) is key.kind, name
        if name not in CONFIG_TOKEN_KEYS:  # read on their own, before any resource
            assert (key.field is None) != (key.env is None), name  # each value goes exactly one place
    fields = {f for f in StackConfig.__dataclass_fields__}
    assert {k.field for k in KEYS if k.field} <= fields
    assert "main" not in project and project["runtime"]["name"] == "python"  # the root: tests/e2e/test_pulumi_engine.py
    assert project["backend"]["url"].startswith("file://")


def test_fractional_dispatch_rate_reaches_the_queue():
    mocks, _ = run_stack({"queueMaxDispatchesPerSecond": "0.5"})
    assert mocks.one("cloudtasks/queue:Queue").inputs["rateLimits"]["maxDispatchesPerSecond"] == 0.5


def test_config_values_reach_the_resources():
    mocks, outputs = run_stack(
        {
            **KEYS,
            "name": "helper",
            "minInstances": "1",
            "memory": "1Gi",
            "queueMaxAttempts": "2",
            "openaiModel": "gpt-x",
            "allowedTeamIds": "T1,T2",
        }
    )
    fn = mocks.one("cloudfunctionsv2/function:Function").inputs
    assert fn["name"] == "helper" and fn["serviceConfig"]["minInstanceCount"] == 1
    assert fn["serviceConfig"]["availableMemory"] == "1Gi"
    env = fn["serviceConfig"]["environmentVariables"]
    assert env["OPENAI_MODEL"] == "gpt-x" and env["ALLOWED_TEAM_IDS"] == "T1,T2"
    assert mocks.one("cloudtasks/queue:Queue").inputs["retryConfig"]["maxAttempts"] == 2
    assert outputs["function_url"].endswith("/helper")


# -- build identity --------------------------------------------------------------------------------
BUILD = f"serviceAccount:slack-bot-build@{GCP_PROJECT}.iam.gserviceaccount.com"


def test_build_identity_holds_exactly_run_builder_and_the_function_waits_for_it(stack):
    mocks, _ = stack
    held = [(r.type, r.inputs["role"], r.inputs.get("project")) for r in grants(mocks) if r.inputs["member"] == BUILD]
    assert held == [("gcp:projects/iAMMember:IAMMember", "roles/run.builder", GCP_PROJECT)]
    grant = next(r for r in grants(mocks) if r.inputs["member"] == BUILD)
    wait = next(r for r in mocks.of_type("time:index/sleep:Sleep") if r.name == "slack-bot-build-iam-propagation")
    assert wait.inputs["createDuration"] == "60s" and grant.name in wait.deps
    fn = mocks.one("cloudfunctionsv2/function:Function")
    assert wait.name in fn.deps and grant.name in fn.deps
    assert not mocks.of_type("BucketIAMMember")  # no identity of ours reads the source bucket
    graph = policies.as_graph(mocks.resources)
    assert policies.build_identity_least_privilege(graph) == [] and policies.function_waits_for_build_iam(graph) == []


def test_policy_pack_catches_a_stack_without_the_wait(stack):
    mocks, _ = stack
    graph = policies.as_graph(mocks.resources)
    for node in graph:
        if node["type"] == policies.FUNCTION:
            node["deps"] = [d for d in node["deps"] if not d.endswith("-iam-propagation")]
    assert policies.function_waits_for_build_iam(graph)


# -- task deadlines --------------------------------------------------------------------------------
def test_every_task_carries_the_configured_deadline_above_the_function_timeout():
    from teambot.app import App
    from teambot.core.jobs import Job
    from teambot.core.settings import Settings

    mocks, _ = run_stack({**KEYS, "timeoutSeconds": "900", "taskDispatchDeadlineSeconds": "1200"})
    fn = mocks.one("cloudfunctionsv2/function:Function").inputs["serviceConfig"]
    env = fn["environmentVariables"]
    assert env["TASKS_DISPATCH_DEADLINE_SECONDS"] == "1200" and fn["timeoutSeconds"] == 900
    # The env the stack sets, read by the function's own code, makes the task Cloud Tasks gets.
    app = App(Settings.from_env({**env, "SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "t", "OPENAI_API_KEY": "k"}))
    job = Job(kind="answer", team="T1", channel="C1", user="U1", message_ts="1.2", thread_ts="1.2")
    task = app.handoff.task_body(job)["task"]
    assert task["dispatchDeadline"] == "1200s"
    assert 15 <= int(task["dispatchDeadline"][:-1]) <= 1800
    assert int(task["dispatchDeadline"][:-1]) >= fn["timeoutSeconds"] + 30


@pytest.mark.parametrize(
    "settings, named",
    [
        ({"timeoutSeconds": "590"}, ["timeoutSeconds (590)", "taskDispatchDeadlineSeconds (600)"]),
        ({"timeoutSeconds": "1800", "taskDispatchDeadlineSeconds": "1800"}, ["timeoutSeconds", "taskDispatchDeadlineSeconds"]),
        ({"taskDispatchDeadlineSeconds": "10"}, ["taskDispatchDeadlineSeconds is 10", "15 to 1800"]),
        ({"taskDispatchDeadlineSeconds": "3600", "timeoutSeconds": "3000"}, ["taskDispatchDeadlineSeconds is 3600"]),
        ({"timeoutSeconds": "4000"}, ["timeoutSeconds is 4000"]),
        ({"queueMaxDispatchesPerSecond": "0"}, ["queueMaxDispatchesPerSecond"]),
        ({"publicAccess": "everyone"}, ["publicAccess", "invokerIamCheckDisabled"]),
    ],
)
def test_a_config_that_would_break_answer_once_is_refused_at_preview(settings, named):
    from infra.config import ConfigError

    with pytest.raises(ConfigError) as refused:
        run_stack(settings)
    for words in named:
        assert words in str(refused.value)


def test_the_default_config_passes_its_own_check():
    from infra.config import check, defaults

    assert check(defaults("p")) == []
    assert check(defaults("p", timeout_seconds=570)) == []  # exactly the margin
    assert check(defaults("p", timeout_seconds=571))


# -- threads -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("concurrency", [None, "80", "1"])
def test_threads_follow_concurrency_so_acks_never_queue_behind_answers(concurrency):
    from infra.config import THREAD_HEADROOM, defaults, function_runtime_env

    mocks, _ = run_stack({"concurrency": concurrency} if concurrency else {})
    sc = mocks.one("cloudfunctionsv2/function:Function").inputs["serviceConfig"]
    env = sc["environmentVariables"]
    assert int(env["THREADS"]) == sc["maxInstanceRequestConcurrency"] + THREAD_HEADROOM
    # The pure function the benchmark imports gives exactly what the stack sets.
    cfg = defaults(GCP_PROJECT, concurrency=sc["maxInstanceRequestConcurrency"])
    assert function_runtime_env(cfg).items() <= env.items()


# -- public access -----------------------------------------------------------------------------------
def test_invoker_check_mode_makes_the_function_public_without_any_iam_binding():
    mocks, _ = run_stack({**KEYS, "publicAccess": "invokerIamCheckDisabled"})
    everything = json.dumps([r.inputs for r in mocks.resources if r.type != "pulumi-python:dynamic:Resource"], default=str)
    assert "allUsers" not in everything and "allAuthenticatedUsers" not in everything
    check = mocks.one("pulumi-python:dynamic:Resource")
    fn = mocks.one("cloudfunctionsv2/function:Function")
    assert check.inputs["invokerIamDisabled"] is True and check.inputs["function"] == "slack-bot"
    assert check.inputs["service"] == f"projects/{GCP_PROJECT}/locations/europe-west1/services/slack-bot"
    assert check.inputs["functionUpdated"] == "2026-11-25T04:00:00Z"  # re-applied after each deploy
    assert fn.name in check.deps
    assert policies.check_all(policies.as_graph(mocks.resources)) == []


def test_policy_pack_wants_exactly_one_public_path(stack):
    mocks, _ = stack
    graph = policies.as_graph(mocks.resources)
    assert policies.function_reachable_by_slack(graph) == []
    private = [r for r in graph if r["type"] != policies.RUN_INVOKER]
    assert policies.function_reachable_by_slack(private)
    both = graph + [
        {"type": policies.DYNAMIC, "name": "x", "deps": [], "props": {"function": "slack-bot", "invokerIamDisabled": True}}
    ]
    assert policies.function_reachable_by_slack(both)


# -- the stack-managed Slack app (slackConfigToken set) -------------------------------------------
CONFIG_TOKEN = "xoxe.xoxp-1-CONFIG-TOKEN-SECRET"


@pytest.fixture(scope="module")
def managed(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        home = tmp_path_factory.mktemp("xdg")
        mp.setenv("XDG_CONFIG_HOME", str(home))  # the config token file (infra/config_tokens.py) goes here
        mocks, outputs = run_stack({"openaiApiKey": KEYS["openaiApiKey"], "slackConfigToken": CONFIG_TOKEN})
        yield mocks, outputs, home


def test_managed_stack_creates_the_app_with_the_function_urls_and_a_secret_token(managed):
    mocks, outputs, _ = managed
    app = mocks.one("dynamic/teambot:SlackApp")
    assert reveal(app.inputs["config_token"]) == CONFIG_TOKEN and app.inputs["api_url"] == "https://slack.com/api/"
    manifest = app.inputs["manifest"]
    assert manifest["oauth_config"]["redirect_urls"] == [FUNCTION_URL + "/slack/oauth_redirect"]
    assert manifest["settings"]["event_subscriptions"]["request_url"] == FUNCTION_URL
    full = mocks.one("dynamic/teambot:SlackAppManifest")  # step 4: the full manifest, after the function
    assert full.inputs["app_id"] == "A0MOCK" and full.inputs["manifest"] == manifest
    assert reveal(full.inputs["config_token"]) == CONFIG_TOKEN
    assert outputs["install_url"] == FUNCTION_URL + "/slack/install"
    assert yaml.safe_load(outputs["slack_manifest"]) == manifest
    assert policies.check_all(policies.as_graph(mocks.resources)) == []


def test_managed_stack_writes_the_apps_secrets_as_versions_and_never_into_the_function(managed):
    from tests.pulumi_stack import SLACK_APP

    mocks, _, _ = managed
    versions = {v.name: reveal(v.inputs["secretDataWo"]) for v in mocks.of_type("SecretVersion")}
    assert versions["slack-bot-slack-signing-secret-version"] == SLACK_APP["signing_secret"]
    assert versions["slack-bot-slack-client-secret-version"] == SLACK_APP["client_secret"]
    assert versions["slack-bot-slack-bot-token-version"] == "unset"  # until /slack/oauth_redirect writes one
    env = mocks.one("cloudfunctionsv2/function:Function").inputs["serviceConfig"]["environmentVariables"]
    assert env["SLACK_CLIENT_ID"] == SLACK_APP["client_id"]
    assert env["SLACK_CLIENT_SECRET"] == f"projects/{GCP_PROJECT}/secrets/slack-bot-slack-client-secret/versions/latest"
    assert env["SLACK_BOT_SCOPES"].split(",") == yaml.safe_load(TEMPLATE.read_text())["oauth_config"]["scopes"]["bot"]
    dumped = json.dumps(
        [r.inputs for r in mocks.resources if "SecretVersion" not in r.type and "SlackApp" not in r.type], default=str
    )
    for secret in (SLACK_APP["client_secret"], SLACK_APP["signing_secret"], CONFIG_TOKEN):
        assert secret not in dumped


def test_managed_stack_adds_exactly_one_version_adder_grant_on_the_bot_token_secret(managed):
    mocks, _, _ = managed
    adders = [r for r in grants(mocks) if r.inputs["role"] == "roles/secretmanager.secretVersionAdder"]
    assert len(adders) == 1
    assert adders[0].inputs["secretId"] == "slack-bot-slack-bot-token" and adders[0].inputs["member"] == RUNTIME
    accessed = sorted(
        r.inputs["secretId"] for r in mocks.of_type("SecretIamMember") if r.inputs["role"] == "roles/secretmanager.secretAccessor"
    )
    assert accessed == [
        "slack-bot-openai-api-key",
        "slack-bot-slack-bot-token",
        "slack-bot-slack-client-secret",
        "slack-bot-slack-signing-secret",
    ]


def test_managed_stack_records_the_config_token_in_a_0600_file(managed):
    _, _, home = managed
    files = list((home / "slack-gpt-bot").iterdir())
    assert [f.name for f in files] == ["slack-gpt-bot.test.slack-config-token.json"]
    assert files[0].stat().st_mode & 0o777 == 0o600


def test_manual_path_stack_has_no_app_no_client_secret_no_extra_grant(stack):
    mocks, outputs = stack
    assert not [r for r in mocks.resources if "dynamic" in r.type]
    assert not [r for r in mocks.of_type("Secret") if "client" in r.name]
    assert not [r for r in grants(mocks) if r.inputs["role"] == "roles/secretmanager.secretVersionAdder"]
    env = mocks.one("cloudfunctionsv2/function:Function").inputs["serviceConfig"]["environmentVariables"]
    assert not {"SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET", "SLACK_BOT_SCOPES"} & set(env)
    assert "install_url" not in outputs
    assert "redirect_urls" not in yaml.safe_load(outputs["slack_manifest"])["oauth_config"]


def test_a_second_version_adder_or_one_elsewhere_breaks_the_policy():
    fn = {"type": policies.FUNCTION, "name": "f", "props": {"serviceConfig": {"serviceAccountEmail": "run@x"}}}

    def adder(secret):
        return {
            "type": "gcp:secretmanager/secretIamMember:SecretIamMember",
            "name": secret,
            "props": {"member": "serviceAccount:run@x", "role": "roles/secretmanager.secretVersionAdder", "secretId": secret},
        }

    assert policies.runtime_least_privilege([fn, adder("b-slack-bot-token")]) == []
    assert policies.runtime_least_privilege([fn, adder("b-openai-api-key")])
    assert policies.runtime_least_privilege([fn, adder("b-slack-bot-token"), adder("c-slack-bot-token")])


def test_with_a_refresh_token_the_program_renews_first_and_the_app_gets_the_new_token(slack, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("SLACK_API_URL", slack.url + "/api/")
    token, refresh = slack.issue_config_tokens()
    mocks, _ = run_stack({"slackConfigToken": token, "slackConfigRefreshToken": refresh})
    saved = json.loads((tmp_path / "slack-gpt-bot" / "slack-gpt-bot.test.slack-config-token.json").read_text())
    for res in (mocks.one("dynamic/teambot:SlackApp"), mocks.one("dynamic/teambot:SlackAppManifest")):
        assert reveal(res.inputs["config_token"]) == saved["token"] != token
        assert res.inputs["api_url"] == slack.url + "/api/" and res.inputs["token_file"].endswith(".json")
    assert slack.count("tooling.tokens.rotate") == 1 and saved["refresh_token"] != refresh


def test_a_spent_refresh_token_stops_the_program_with_one_clear_message(slack, tmp_path, monkeypatch):
    import pulumi

    monkeypatch.setenv("SLACK_API_URL", slack.url + "/api/")
    token, refresh = slack.issue_config_tokens()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "first"))
    run_stack({"slackConfigToken": token, "slackConfigRefreshToken": refresh})
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))  # the renewed pair is not on this machine
    with pytest.raises(pulumi.RunError) as raised:
        run_stack({"slackConfigToken": token, "slackConfigRefreshToken": refresh})
    message = str(raised.value)
    assert "invalid_refresh_token" in message and "https://api.slack.com/apps" in message
    assert token not in message and refresh not in message


# -- deploy defects of the first real `pulumi up` (issue 18) ----------------------------------------
def seconds(duration: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]]


def test_the_alert_policy_waits_at_least_a_minute_after_every_log_based_metric(stack):
    """Cloud Monitoring answers 404 "Cannot find metric(s)" to a policy on a metric created just before."""
    mocks, _ = stack
    metrics = mocks.of_type("logging/metric:Metric")
    settled = next(r for r in mocks.of_type("time:index/sleep:Sleep") if r.name == "slack-bot-metrics-settled")
    assert seconds(settled.inputs["createDuration"]) >= 60
    assert len(metrics) == 4 and {m.name for m in metrics} <= set(settled.deps)
    assert sorted(settled.inputs["triggers"].values()) == sorted(
        f"logging.googleapis.com/user/{m.inputs['name']}" for m in metrics
    )
    policy = mocks.one("monitoring/alertPolicy:AlertPolicy")
    assert settled.name in policy.deps


def test_the_source_bucket_expires_only_replaced_archives_never_the_live_one(stack):
    mocks, _ = stack
    bucket = mocks.one("storage/bucket:Bucket").inputs
    assert bucket["versioning"] == {"enabled": True}
    rules = bucket["lifecycleRules"]
    assert rules == [{"action": {"type": "Delete"}, "condition": {"daysSinceNoncurrentTime": 30, "withState": "ARCHIVED"}}]
    for rule in rules:  # an age-only rule also matches the live archive the function builds from
        assert "age" not in rule["condition"] and rule["condition"]["withState"] == "ARCHIVED"


def test_source_retention_days_reaches_the_noncurrent_rule():
    mocks, _ = run_stack({**KEYS, "sourceRetentionDays": "7"})
    condition = mocks.one("storage/bucket:Bucket").inputs["lifecycleRules"][0]["condition"]
    assert condition == {"daysSinceNoncurrentTime": 7, "withState": "ARCHIVED"}


def test_the_managed_app_gets_the_configured_suggested_prompts_like_the_manual_manifest(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    prompts = '[{"title": "Sum up", "message": "Summarize this thread"}, "What changed?"]'
    mocks, outputs = run_stack(
        {"openaiApiKey": KEYS["openaiApiKey"], "slackConfigToken": CONFIG_TOKEN, "suggestedPrompts": prompts}
    )
    manual = yaml.safe_load(outputs["slack_manifest"])["features"]["agent_view"]["suggested_prompts"]
    assert manual[0] == {"title": "Sum up", "message": "Summarize this thread"} and len(manual) == 2
    for kind in ("dynamic/teambot:SlackApp", "dynamic/teambot:SlackAppManifest"):
        assert mocks.one(kind).inputs["manifest"]["features"]["agent_view"]["suggested_prompts"] == manual, kind


def test_names_google_keeps_reserved_are_new_after_a_destroy_and_stable_across_updates():
    """A Cloud Tasks queue name stays reserved for up to 7 days after a delete, a Firestore database
    id for minutes (README "Names that stay reserved"): both carry the stack's creation time (a
    pulumiverse_time.Static kept in state), so a `pulumi destroy` + `pulumi up` gets fresh names,
    while every update of the same stack keeps them; a stack created before the suffix keeps its
    old names (ignore_changes on `name`), and the function reads the real ones back."""
    from infra.naming import generation_suffix

    def names(created_unix):
        mocks, _ = run_stack(KEYS, created_unix=created_unix)
        queue = mocks.one("cloudtasks/queue:Queue")
        database = mocks.one("firestore/database:Database")
        env = mocks.one("cloudfunctionsv2/function:Function").inputs["serviceConfig"]["environmentVariables"]
        assert env["TASKS_QUEUE"].endswith("/queues/" + queue.inputs["name"])
        assert env["FIRESTORE_DATABASE"] == database.inputs["name"]
        for res in (queue, database):
            assert "name" in res.opts_ignore_changes, res.name
        return queue.inputs["name"], database.inputs["name"]

    first = names(1796515200)
    assert first == names(1796515200)  # an update: the Static in state, same names
    after_destroy = names(1796515200 + 3600)
    assert after_destroy[0] != first[0] and after_destroy[1] != first[1]
    assert first == (f"slack-bot-answers-{generation_suffix(1796515200)}", f"slack-bot-usage-{generation_suffix(1796515200)}")
    assert all(len(n) <= 63 for n in first)  # Firestore database ids: 4-63 characters
