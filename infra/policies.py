"""The stack's security rules as plain functions over a resource graph, so they are unit-tested
here and enforced by the policy pack (infra/policy) in `pulumi preview --policy-pack infra/policy`.

A graph is a list of {"type", "name", "props", "deps"} with Pulumi's camelCase property names
and "deps" the names of the resources each one depends on. Each validator returns a list of
violations (empty = compliant). During a first preview some values are not known yet (a service
account's email, say): a validator that needs one skips what it cannot see rather than guess.

This module must import nothing but the standard library: the policy pack runs in its own
environment (infra/policy/requirements.txt).
"""

from __future__ import annotations

import json
import re

DEFAULT_SA = re.compile(r"(-compute@developer\.gserviceaccount\.com|@appspot\.gserviceaccount\.com)")
PUBLIC = {"allUsers", "allAuthenticatedUsers"}
SECRET_ENV = ("OPENAI_API_KEY", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CLIENT_SECRET")
VERSION_NAME = re.compile(r"^projects/[^/]+/secrets/[^/]+/versions/latest$")
KEY_LIKE = re.compile(r"^(sk-|xox[abpre]-)")
RUNTIME_ALLOWED = {
    ("gcp:secretmanager/secretIamMember:SecretIamMember", "roles/secretmanager.secretAccessor"),
    ("gcp:cloudtasks/queueIamMember:QueueIamMember", "roles/cloudtasks.enqueuer"),
    ("gcp:serviceaccount/iAMMember:IAMMember", "roles/iam.serviceAccountUser"),
    # managed Slack app only: the install route writes the bot token (checked below: that secret, once)
    ("gcp:secretmanager/secretIamMember:SecretIamMember", "roles/secretmanager.secretVersionAdder"),
    ("gcp:projects/iAMMember:IAMMember", "roles/datastore.user"),  # conditioned on the usage database (infra/usage_store.py)
}
VERSION_ADDER = "roles/secretmanager.secretVersionAdder"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"
RUN_INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
PROJECT_GRANT = "gcp:projects/iAMMember:IAMMember"
SLEEP = "time:index/sleep:Sleep"
DYNAMIC = "pulumi-python:dynamic:Resource"
# The build identity's whole grant set (why: infra/identities.py, BUILD_PROJECT_ROLES).
BUILD_ROLES = frozenset({"roles/run.builder"})
MIN_IAM_WAIT_SECONDS = 30


def as_graph(resources) -> list[dict]:
    return [{"type": r.type, "name": r.name, "props": r.inputs, "deps": list(getattr(r, "deps", []))} for r in resources]


def _functions(graph):
    return [r for r in graph if r["type"] == FUNCTION]


def _grants(graph):
    return [r for r in graph if re.search(r"iam(member|binding|policy)", r["type"], re.I)]


def no_default_service_accounts(graph) -> list[str]:
    out = []
    for fn in _functions(graph):
        props = fn["props"]
        if not (props.get("serviceConfig") or {}).get("serviceAccountEmail"):
            out.append(f"{fn['name']}: no runtime service account (the default compute one would be used)")
        if not (props.get("buildConfig") or {}).get("serviceAccount"):
            out.append(f"{fn['name']}: no build service account (the default one would be used)")
    for r in graph:
        if DEFAULT_SA.search(json.dumps(r["props"], default=str)):
            out.append(f"{r['name']}: uses a default service account")
    return out


def only_function_public(graph) -> list[str]:
    out = []
    for r in _grants(graph):
        members = [r["props"].get("member")] + list(r["props"].get("members") or [])
        if PUBLIC.intersection(m for m in members if m):
            if not (
                r["type"] == "gcp:cloudrunv2/serviceIamMember:ServiceIamMember" and r["props"].get("role") == "roles/run.invoker"
            ):
                out.append(f"{r['name']}: grants {r['props'].get('role')} to the public")
    for r in graph:
        if r["type"] == "gcp:storage/bucket:Bucket" and r["props"].get("publicAccessPrevention") != "enforced":
            out.append(f"{r['name']}: bucket without public access prevention")
    return out


def runtime_least_privilege(graph) -> list[str]:
    runtime = {
        f"serviceAccount:{(fn['props'].get('serviceConfig') or {}).get('serviceAccountEmail')}" for fn in _functions(graph)
    }
    out = []
    for r in _grants(graph):
        if r["props"].get("member") in runtime and (r["type"], r["props"].get("role")) not in RUNTIME_ALLOWED:
            out.append(f"{r['name']}: runtime identity granted {r['props'].get('role')} via {r['type']}")
    adders = [r for r in _grants(graph) if r["props"].get("member") in runtime and r["props"].get("role") == VERSION_ADDER]
    if len(adders) > 1 or any(not str(r["props"].get("secretId")).endswith("-slack-bot-token") for r in adders):
        out.append("runtime identity may add versions to the bot-token secret only")
    return out


def no_secrets_in_function_env(graph) -> list[str]:
    out = []
    for fn in _functions(graph):
        env = (fn["props"].get("serviceConfig") or {}).get("environmentVariables") or {}
        for name in SECRET_ENV:
            if name in env and not VERSION_NAME.match(str(env[name])):
                out.append(f"{fn['name']}: {name} must be a Secret Manager version name, not a value")
        for name, value in env.items():
            if KEY_LIKE.match(str(value)):
                out.append(f"{fn['name']}: env {name} looks like a credential")
    return out


def hashed_source_object(graph) -> list[str]:
    return [
        f"{r['name']}: source object name must carry a content hash (src-<sha>.zip)"
        for r in graph
        if r["type"] == "gcp:storage/bucketObject:BucketObject"
        and not re.match(r"^src-[0-9a-f]{20}\.zip$", str(r["props"].get("name")))
    ]


def bounded_queue_retries(graph) -> list[str]:
    """1..5 attempts, and a retry window that can't add more (Cloud Tasks keeps retrying until
    both maxAttempts and maxRetryDuration are reached: infra/task_queue.py)."""
    out = []
    for r in graph:
        if r["type"] == "gcp:cloudtasks/queue:Queue":
            retry = r["props"].get("retryConfig") or {}
            attempts = retry.get("maxAttempts")
            if not isinstance(attempts, (int, float)) or not 1 <= attempts <= 5:  # the engine sends numbers as floats
                out.append(f"{r['name']}: retries must be bounded (1..5 attempts) so an answer is posted once")
            window, backoff = _seconds(retry.get("maxRetryDuration")), _seconds(retry.get("minBackoff"))
            if retry.get("maxRetryDuration") is None or window > backoff:
                out.append(
                    f"{r['name']}: maxRetryDuration must be set and at most minBackoff, or Cloud Tasks "
                    f"retries past maxAttempts until it runs out"
                )
    return out


def _build_member(fn) -> str | None:
    account = str((fn["props"].get("buildConfig") or {}).get("serviceAccount") or "")
    email = account.rsplit("/", 1)[-1]
    return f"serviceAccount:{email}" if "@" in email else None


def build_identity_least_privilege(graph) -> list[str]:
    """The build identity holds exactly BUILD_ROLES, project-level, and nothing else."""
    out = []
    for fn in _functions(graph):
        member = _build_member(fn)
        if member is None:
            continue
        held = [r for r in _grants(graph) if r["props"].get("member") == member]
        roles = sorted(str(r["props"].get("role")) for r in held if r["type"] == PROJECT_GRANT)
        if roles != sorted(BUILD_ROLES) or len(held) != len(roles):
            out.append(
                f"{fn['name']}: build identity must hold exactly {sorted(BUILD_ROLES)} on the project "
                f"(holds {sorted((r['type'], r['props'].get('role')) for r in held)})"
            )
    return out


def _seconds(duration) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", str(duration or ""))
    return int(match[1]) * (60 if match[2] == "m" else 1) if match else 0


def function_waits_for_build_iam(graph) -> list[str]:
    """The function depends on a Sleep that follows every grant of its build identity, so the
    first build does not race IAM propagation."""
    by_name = {r["name"]: r for r in graph}
    out = []
    for fn in _functions(graph):
        member = _build_member(fn)
        grants = {r["name"] for r in graph if r["type"] == PROJECT_GRANT and r["props"].get("member") == member}
        sleeps = [by_name[d] for d in fn.get("deps", []) if d in by_name and by_name[d]["type"] == SLEEP]
        if not any(
            _seconds(s["props"].get("createDuration")) >= MIN_IAM_WAIT_SECONDS and grants <= set(s.get("deps", []))
            for s in sleeps
        ):
            out.append(
                f"{fn['name']}: must depend on a Sleep of at least {MIN_IAM_WAIT_SECONDS}s after its build "
                f"identity's grants (IAM propagation before the first build)"
            )
    return out


def _invoker_check_disabled(r) -> bool:
    return r["type"] == DYNAMIC and r["props"].get("invokerIamDisabled") is True


def function_reachable_by_slack(graph) -> list[str]:
    """Exactly one way in for Slack per function: allUsers run.invoker on its service, or the
    service's invoker IAM check disabled (infra/run_invoker_check.py)."""
    public = [
        r
        for r in graph
        if (r["type"] == RUN_INVOKER and r["props"].get("member") == "allUsers" and r["props"].get("role") == "roles/run.invoker")
        or _invoker_check_disabled(r)
    ]
    functions = _functions(graph)
    out = []
    for fn in functions:
        name = fn["props"].get("name")
        ways = [
            r
            for r in public
            if (r["props"].get("function") if _invoker_check_disabled(r) else r["props"].get("name")) in (name, None)
        ]
        if len(ways) != 1:
            out.append(
                f"{fn['name']}: needs exactly one public path for Slack (allUsers run.invoker or invoker "
                f"IAM check disabled), has {len(ways)}"
            )
    return out


VALIDATORS = {
    "no-default-service-accounts": no_default_service_accounts,
    "only-function-public": only_function_public,
    "runtime-least-privilege": runtime_least_privilege,
    "no-secrets-in-function-env": no_secrets_in_function_env,
    "hashed-source-object": hashed_source_object,
    "bounded-queue-retries": bounded_queue_retries,
    "build-identity-least-privilege": build_identity_least_privilege,
    "function-waits-for-build-iam": function_waits_for_build_iam,
    "function-reachable-by-slack": function_reachable_by_slack,
}


def check_all(graph) -> list[str]:
    return [violation for validator in VALIDATORS.values() for violation in validator(graph)]
