"""The usage store and monitoring in the Pulumi program, under mocks: the Firestore database and
its TTL policy, exactly one datastore grant (to the runtime identity, on that database only), the
log-based metrics, the dashboard, the alert policy with and without an email channel."""

import asyncio
import json

import pytest

from infra import monitoring, policies
from infra.usage_store import COLLECTION, EXPIRY_FIELD
from teambot.usage import store as usage_store
from tests.pulumi_stack import GCP_PROJECT, run_stack

RUNTIME = f"serviceAccount:slack-bot-run@{GCP_PROJECT}.iam.gserviceaccount.com"
KEYS = {"openaiApiKey": "sk-x", "slackBotToken": "xoxb-x", "slackSigningSecret": "s"}


def resolve(output):
    """The value of a stack output under mocks (the program has already run)."""
    return asyncio.get_event_loop().run_until_complete(output.future())


@pytest.fixture(scope="module")
def stack():
    return run_stack(KEYS)


@pytest.fixture(scope="module")
def stack_with_email():
    return run_stack(
        {
            **KEYS,
            "alertEmail": "oncall@example.com",
            "dailyTokenBudgetPerUser": "50000",
            "dailyTokenBudgetPerTeam": "400000",
            "adminUserIds": "U1,U2",
            "modelPrices": '{"gpt-x": {"input": 1, "output": 2}}',
        }
    )


def test_firestore_database_native_with_a_ttl_on_the_usage_documents(stack):
    mocks, _ = stack
    db = mocks.one("firestore/database:Database").inputs
    assert db["type"] == "FIRESTORE_NATIVE" and db["name"] == "slack-bot-usage-tplk00" and db["locationId"] == "europe-west1"
    ttl = mocks.one("firestore/field:Field").inputs
    assert (ttl["database"], ttl["collection"], ttl["field"]) == ("slack-bot-usage-tplk00", COLLECTION, EXPIRY_FIELD)
    assert ttl["ttlConfig"] == {} and ttl["indexConfig"] == {}  # TTL on, the timestamp's indexes off
    # The function writes exactly the collection and field the policy covers.
    assert (COLLECTION, EXPIRY_FIELD) == (usage_store.COLLECTION, usage_store.EXPIRY_FIELD)
    apis = {s.inputs["service"] for s in mocks.of_type("projects/service:Service")}
    assert {"firestore.googleapis.com", "monitoring.googleapis.com", "logging.googleapis.com"} <= apis


def test_exactly_one_datastore_grant_to_the_runtime_identity_on_that_database_only(stack):
    mocks, _ = stack
    datastore = [r for r in mocks.resources if "iammember" in r.type.lower() and "datastore" in r.inputs.get("role", "")]
    assert len(datastore) == 1
    grant = datastore[0]
    assert grant.type == "gcp:projects/iAMMember:IAMMember"
    assert (grant.inputs["role"], grant.inputs["member"]) == ("roles/datastore.user", RUNTIME)
    assert (
        grant.inputs["condition"]["expression"] == f'resource.name == "projects/{GCP_PROJECT}/databases/slack-bot-usage-tplk00"'
    )
    assert policies.runtime_least_privilege(policies.as_graph(mocks.resources)) == []


def test_the_function_uses_firestore_when_deployed(stack, stack_with_email):
    env = stack[0].one("cloudfunctionsv2/function:Function").inputs["serviceConfig"]["environmentVariables"]
    assert env["USAGE_STORE"] == "firestore" and env["FIRESTORE_DATABASE"] == "slack-bot-usage-tplk00"
    assert "DAILY_TOKEN_BUDGET_PER_USER" not in env and "MODEL_PRICES" not in env  # unset = no limit, defaults
    env = stack_with_email[0].one("cloudfunctionsv2/function:Function").inputs["serviceConfig"]["environmentVariables"]
    assert env["DAILY_TOKEN_BUDGET_PER_USER"] == "50000" and env["DAILY_TOKEN_BUDGET_PER_TEAM"] == "400000"
    assert env["ADMIN_USER_IDS"] == "U1,U2" and json.loads(env["MODEL_PRICES"]) == {"gpt-x": {"input": 1, "output": 2}}


def test_log_based_metrics_from_the_answer_line(stack):
    mocks, _ = stack
    metrics = {m.inputs["name"]: m.inputs for m in mocks.of_type("logging/metric:Metric")}
    assert set(metrics) == {"slack_bot_answers", "slack_bot_ttft_ms", "slack_bot_prompt_tokens", "slack_bot_completion_tokens"}
    for spec in metrics.values():
        assert 'resource.labels.service_name="slack-bot"' in spec["filter"] and 'jsonPayload.message="answer"' in spec["filter"]
    answers = metrics["slack_bot_answers"]
    assert answers["metricDescriptor"]["valueType"] == "INT64" and answers["metricDescriptor"]["metricKind"] == "DELTA"
    assert answers["labelExtractors"] == {"outcome": "EXTRACT(jsonPayload.outcome)"}
    assert [label["key"] for label in answers["metricDescriptor"]["labels"]] == ["outcome"]
    for name, field in (
        ("slack_bot_ttft_ms", "ttft_ms"),
        ("slack_bot_prompt_tokens", "prompt_tokens"),
        ("slack_bot_completion_tokens", "completion_tokens"),
    ):
        spec = metrics[name]
        assert spec["metricDescriptor"]["valueType"] == "DISTRIBUTION"
        assert spec["valueExtractor"] == f"EXTRACT(jsonPayload.{field})"
        assert spec["bucketOptions"]["exponentialBuckets"]["numFiniteBuckets"] > 0


def test_the_log_fields_the_metrics_read_are_the_ones_the_function_writes():
    from tests.harness import REPO

    source = (REPO / "function" / "teambot" / "answer" / "pipeline.py").read_text()
    for field in ("outcome=", "ttft_ms=", "prompt_tokens=", "completion_tokens=", '"answer"'):
        assert field in source, field


def test_dashboard_charts_every_metric_and_its_url_is_exported(stack):
    mocks, outputs = stack
    board = json.loads(mocks.one("monitoring/dashboard:Dashboard").inputs["dashboardJson"])
    text = json.dumps(board)
    for name in ("slack_bot_answers", "slack_bot_ttft_ms", "slack_bot_prompt_tokens", "slack_bot_completion_tokens"):
        assert name in text
    tiles = board["mosaicLayout"]["tiles"]
    assert len(tiles) == 4 and all(t["xPos"] + t["width"] <= 12 for t in tiles)
    assert "metric.label.outcome" in json.dumps(tiles[0])
    assert resolve(outputs["dashboard_url"]) == (
        f"https://console.cloud.google.com/monitoring/dashboards/builder/slack-bot-dashboard_id?project={GCP_PROJECT}"
    )


def test_alert_policy_on_the_error_ratio_without_an_email(stack):
    mocks, _ = stack
    assert not mocks.of_type("monitoring/notificationChannel:NotificationChannel")
    policy = mocks.one("monitoring/alertPolicy:AlertPolicy").inputs
    assert policy.get("notificationChannels") in (None, [])
    threshold = policy["conditions"][0]["conditionThreshold"]
    assert threshold["comparison"] == "COMPARISON_GT" and threshold["thresholdValue"] == monitoring.ERROR_RATIO
    assert "logging.googleapis.com/user/slack_bot_answers" in threshold["filter"]
    assert "NOT metric.label.outcome = one_of(" in threshold["filter"] and '"done"' in threshold["filter"]
    assert threshold["denominatorFilter"] in threshold["filter"]  # errors over all answers
    assert threshold["aggregations"] == threshold["denominatorAggregations"]


def test_alert_policy_notifies_the_configured_email(stack_with_email):
    mocks, _ = stack_with_email
    channel = mocks.one("monitoring/notificationChannel:NotificationChannel")
    assert channel.inputs["type"] == "email" and channel.inputs["labels"] == {"email_address": "oncall@example.com"}
    policy = mocks.one("monitoring/alertPolicy:AlertPolicy").inputs
    assert policy["notificationChannels"] == [f"{channel.name}_id"]
