"""The stack's security rules as plain functions over a resource graph, so they are unit-tested
here and enforced by the policy pack (infra/policy) in `pulumi preview --policy-pack infra/policy`.

A graph is a list of {"type", "name", "props"} with Pulumi's camelCase property names. Each
validator returns a list of violations (empty = compliant).
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
}
VERSION_ADDER = "roles/secretmanager.secretVersionAdder"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"


def as_graph(resources) -> list[dict]:
    return [{"type": r.type, "name": r.name, "props": r.inputs} for r in resources]


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
            if not (r["type"] == "gcp:cloudrunv2/serviceIamMember:ServiceIamMember" and r["props"].get("role") == "roles/run.invoker"):
                out.append(f"{r['name']}: grants {r['props'].get('role')} to the public")
    for r in graph:
        if r["type"] == "gcp:storage/bucket:Bucket" and r["props"].get("publicAccessPrevention") != "enforced":
            out.append(f"{r['name']}: bucket without public access prevention")
    return out


def runtime_least_privilege(graph) -> list[str]:
    runtime = {f"serviceAccount:{(fn['props'].get('serviceConfig') or {}).get('serviceAccountEmail')}" for fn in _functions(graph)}
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
        if r["type"] == "gcp:storage/bucketObject:BucketObject" and not re.match(r"^src-[0-9a-f]{20}\.zip$", str(r["props"].get("name")))
    ]


def bounded_queue_retries(graph) -> list[str]:
    out = []
    for r in graph:
        if r["type"] == "gcp:cloudtasks/queue:Queue":
            attempts = (r["props"].get("retryConfig") or {}).get("maxAttempts")
            if not isinstance(attempts, (int, float)) or not 1 <= attempts <= 5:  # the engine sends numbers as floats
                out.append(f"{r['name']}: retries must be bounded (1..5 attempts) so an answer is posted once")
    return out


VALIDATORS = {
    "no-default-service-accounts": no_default_service_accounts,
    "only-function-public": only_function_public,
    "runtime-least-privilege": runtime_least_privilege,
    "no-secrets-in-function-env": no_secrets_in_function_env,
    "hashed-source-object": hashed_source_object,
    "bounded-queue-retries": bounded_queue_retries,
}


def check_all(graph) -> list[str]:
    return [violation for validator in VALIDATORS.values() for violation in validator(graph)]
