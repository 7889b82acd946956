"""Each policy validator catches what it is for (and the real stack passes: test_infra.py)."""

from infra import policies

FN = "gcp:cloudfunctionsv2/function:Function"
BUILD = "serviceAccount:build@p.iam.gserviceaccount.com"
GOOD_FN = {
    "type": FN,
    "name": "fn",
    "deps": ["wait"],
    "props": {
        "name": "fn",
        "serviceConfig": {
            "serviceAccountEmail": "run@p.iam.gserviceaccount.com",
            "environmentVariables": {"OPENAI_API_KEY": "projects/p/secrets/k/versions/latest"},
        },
        "buildConfig": {"serviceAccount": "projects/p/serviceAccounts/build@p.iam.gserviceaccount.com"},
    },
}
BUILD_GRANT = {
    "type": "gcp:projects/iAMMember:IAMMember",
    "name": "builder",
    "deps": [],
    "props": {"member": BUILD, "role": "roles/run.builder", "project": "p"},
}
WAIT = {"type": "time:index/sleep:Sleep", "name": "wait", "deps": ["builder"], "props": {"createDuration": "60s"}}
PUBLIC = {
    "type": "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
    "name": "public",
    "deps": [],
    "props": {"member": "allUsers", "role": "roles/run.invoker", "name": "fn"},
}
GOOD = [GOOD_FN, BUILD_GRANT, WAIT, PUBLIC]


def with_props(resource, **changes):
    props = {**resource["props"], **changes}
    return {**resource, "props": props}


def test_a_compliant_graph_passes():
    assert policies.check_all(GOOD) == []


def test_the_build_identity_must_hold_exactly_its_role():
    from infra.identities import BUILD_PROJECT_ROLES

    assert set(BUILD_PROJECT_ROLES) == policies.BUILD_ROLES  # the pack checks what the stack grants
    broader = with_props(BUILD_GRANT, role="roles/storage.objectAdmin")
    assert policies.build_identity_least_privilege([GOOD_FN, broader])
    extra = {
        "type": "gcp:storage/bucketIAMMember:BucketIAMMember",
        "name": "b",
        "props": {"member": BUILD, "role": "roles/storage.admin"},
    }
    assert policies.build_identity_least_privilege([GOOD_FN, BUILD_GRANT, extra])
    assert policies.build_identity_least_privilege([GOOD_FN])  # no grant: the build can't read its source


def test_the_function_must_wait_for_the_build_grants():
    assert policies.function_waits_for_build_iam([{**GOOD_FN, "deps": []}, BUILD_GRANT, WAIT])
    assert policies.function_waits_for_build_iam([GOOD_FN, BUILD_GRANT, {**WAIT, "deps": []}])  # sleeps too early
    assert policies.function_waits_for_build_iam([GOOD_FN, BUILD_GRANT, with_props(WAIT, createDuration="5s")])
    assert policies.function_waits_for_build_iam([GOOD_FN, BUILD_GRANT, with_props(WAIT, createDuration="1m")]) == []


def test_slack_needs_exactly_one_way_in():
    disabled = {
        "type": "pulumi-python:dynamic:Resource",
        "name": "d",
        "deps": ["fn"],
        "props": {"function": "fn", "service": "projects/p/locations/r/services/fn", "invokerIamDisabled": True},
    }
    assert policies.function_reachable_by_slack([GOOD_FN, disabled]) == []
    assert policies.only_function_public([GOOD_FN, disabled]) == []
    assert policies.function_reachable_by_slack([GOOD_FN])
    assert policies.function_reachable_by_slack([GOOD_FN, PUBLIC, disabled])
    assert policies.function_reachable_by_slack([GOOD_FN, with_props(PUBLIC, name="other")])


def test_default_service_accounts_are_caught():
    no_runtime = with_props(GOOD_FN, serviceConfig={})
    assert policies.no_default_service_accounts([no_runtime])
    compute = {
        "type": "gcp:projects/iAMMember:IAMMember",
        "name": "g",
        "props": {"member": "serviceAccount:123-compute@developer.gserviceaccount.com", "role": "roles/editor"},
    }
    assert policies.no_default_service_accounts([GOOD_FN, compute])
    assert policies.no_default_service_accounts([with_props(GOOD_FN, buildConfig={})])


def test_public_grants_other_than_run_invoker_are_caught():
    bucket_public = {
        "type": "gcp:storage/bucketIAMMember:BucketIAMMember",
        "name": "b",
        "props": {"member": "allUsers", "role": "roles/storage.objectViewer"},
    }
    ok = {
        "type": "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
        "name": "p",
        "props": {"member": "allUsers", "role": "roles/run.invoker"},
    }
    assert policies.only_function_public([ok]) == []
    assert policies.only_function_public([ok, bucket_public])
    assert policies.only_function_public([{"type": "gcp:storage/bucket:Bucket", "name": "b", "props": {}}])


def test_runtime_grants_outside_the_list_are_caught():
    editor = {
        "type": "gcp:projects/iAMMember:IAMMember",
        "name": "e",
        "props": {"member": "serviceAccount:run@p.iam.gserviceaccount.com", "role": "roles/editor"},
    }
    assert policies.runtime_least_privilege([GOOD_FN, editor])
    accessor = {
        "type": "gcp:secretmanager/secretIamMember:SecretIamMember",
        "name": "a",
        "props": {"member": "serviceAccount:run@p.iam.gserviceaccount.com", "role": "roles/secretmanager.secretAccessor"},
    }
    assert policies.runtime_least_privilege([GOOD_FN, accessor]) == []


def test_secret_values_in_env_are_caught():
    leaky = with_props(
        GOOD_FN,
        serviceConfig={
            "serviceAccountEmail": "run@p.iam.gserviceaccount.com",
            "environmentVariables": {"OPENAI_API_KEY": "sk-abc", "X": "xoxb-1"},
        },
    )
    assert len(policies.no_secrets_in_function_env([leaky])) == 3


def test_unhashed_source_and_unbounded_retries_are_caught():
    obj = {"type": "gcp:storage/bucketObject:BucketObject", "name": "o", "props": {"name": "source.zip"}}
    assert policies.hashed_source_object([obj])
    assert policies.hashed_source_object([with_props(obj, name="src-" + "a" * 20 + ".zip")]) == []
    bounded = {"maxAttempts": 3, "minBackoff": "5s", "maxRetryDuration": "5s"}
    queue = {"type": "gcp:cloudtasks/queue:Queue", "name": "q", "props": {"retryConfig": {**bounded, "maxAttempts": -1}}}
    assert policies.bounded_queue_retries([queue])
    assert policies.bounded_queue_retries([with_props(queue, retryConfig=bounded)]) == []
    # Cloud Tasks retries until both limits are reached: a long window means more than 3 attempts.
    assert policies.bounded_queue_retries([with_props(queue, retryConfig={**bounded, "maxRetryDuration": "600s"})])
    assert policies.bounded_queue_retries([with_props(queue, retryConfig={"maxAttempts": 3, "minBackoff": "5s"})])


def test_the_policy_pack_loads_every_validator():
    """In the pack's own venv (infra/policy/.venv, `make install`), where pulumi-policy lives, as
    Pulumi runs it: with the pack's directory as the working directory."""
    import json
    import subprocess

    import pytest

    from tests.harness import REPO

    python = REPO / "infra" / "policy" / ".venv" / "bin" / "python"
    if not python.exists():
        pytest.skip("no infra/policy/.venv: run `make install`")
    script = (
        "import json, runpy\nfrom unittest import mock\n"
        "with mock.patch('pulumi_policy.PolicyPack') as pack:\n"
        "    runpy.run_path('__main__.py')\n"
        "print(json.dumps([p.name for p in pack.call_args.kwargs['policies']]))\n"
    )
    run = subprocess.run(
        [str(python), "-c", script],
        cwd=REPO / "infra" / "policy",
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout) == list(policies.VALIDATORS)
