"""Run the real Pulumi program (the root __main__.py, which runs infra/__main__.py) under pulumi.runtime.set_mocks and return
the resource graph it registered: no CLI, no cloud."""

from __future__ import annotations

import runpy
from dataclasses import dataclass, field

import pulumi

from tests.harness import REPO

PROJECT = "slack-gpt-bot"
GCP_PROJECT = "acme-bots"


SLACK_APP = {
    "app_id": "A0MOCK",
    "client_id": "1111.2222",
    "client_secret": "mock-client-SECRET",
    "signing_secret": "mock-signing-SECRET",
    "oauth_authorize_url": "https://slack.com/oauth/v2/authorize?client_id=1111.2222",
}
SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker for a secret value in mocks


def reveal(value):
    """The plain value of a (possibly secret-wrapped) mock input; raises if it was not secret."""
    assert isinstance(value, dict) and value.get(SECRET_SIG), f"not a secret: {value!r}"
    return value["value"]


@dataclass
class Res:
    type: str
    name: str
    inputs: dict
    state: dict
    deps: list[str] = field(default_factory=list)  # names of the resources it depends on
    opts_ignore_changes: list[str] = field(default_factory=list)  # ResourceOptions.ignore_changes


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """Also records each registration's dependencies (explicit depends_on and implicit, through
    inputs), which `Mocks.new_resource` does not see."""

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        # the newest registration of that name (registrations of other resources may interleave)
        for res in reversed(self.mocks.resources):
            if res.name == request.name:
                res.deps = [urn.rsplit("::", 1)[-1] for urn in request.dependencies]
                res.opts_ignore_changes = list(request.ignoreChanges)
                break
        return response


# What pulumiverse_time.Static reports when the stack first creates it (2026-12-06T00:00:00Z).
CREATED_UNIX = 1796515200


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, created_unix: int = CREATED_UNIX):
        self.resources: list[Res] = []
        self.created_unix = created_unix

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        t = args.typ
        if t == "gcp:serviceaccount/account:Account":
            state["email"] = f"{args.inputs['accountId']}@{GCP_PROJECT}.iam.gserviceaccount.com"
            state["name"] = f"projects/{GCP_PROJECT}/serviceAccounts/{state['email']}"
        elif t == "gcp:cloudfunctionsv2/function:Function":
            state["url"] = f"https://{args.inputs['name']}-xyz-uc.a.run.app"
            # What Google reports once deployed: the Cloud Run service behind the function
            # (cloudfunctions v2 ServiceConfig.service) and when it was last deployed.
            state["serviceConfig"] = {
                **args.inputs["serviceConfig"],
                "service": f"projects/{GCP_PROJECT}/locations/{args.inputs['location']}/services/{args.inputs['name']}",
            }
            state["updateTime"] = "2026-11-25T04:00:00Z"
        elif t == "gcp:storage/bucket:Bucket":
            state["name"] = f"{args.name}-bucket"
        elif t == "time:index/static:Static":  # the stack's creation time (infra/naming.py generation_suffix)
            state["unix"] = self.created_unix
        elif t == "pulumi-python:dynamic/teambot:SlackApp":  # what apps.manifest.create returns (infra/slack_app.py)
            state.update(SLACK_APP)
        self.resources.append(Res(t, args.name, dict(args.inputs), state))
        return f"{args.name}_id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    # -- queries ---------------------------------------------------------------------------
    def of_type(self, suffix: str) -> list[Res]:
        return [r for r in self.resources if r.type.endswith(suffix)]

    def one(self, suffix: str) -> Res:
        found = self.of_type(suffix)
        assert len(found) == 1, (suffix, [r.name for r in found])
        return found[0]


def run_stack(config: dict[str, str] | None = None, *, created_unix: int = CREATED_UNIX) -> tuple[RecordingMocks, dict]:
    """`created_unix`: the stack's creation time as its Static resource holds it (another value
    stands for the same program deployed as a new stack, e.g. after `pulumi destroy`)."""
    mocks = RecordingMocks(created_unix)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="test", preview=False, monitor=RecordingMonitor(mocks))
    values = {"gcp:project": GCP_PROJECT, f"{PROJECT}:region": "europe-west1"}
    values.update({(k if ":" in k else f"{PROJECT}:{k}"): v for k, v in (config or {}).items()})
    secret_keys = [
        k
        for k in values
        if k.split(":")[-1]
        in ("openaiApiKey", "slackBotToken", "slackSigningSecret", "slackConfigToken", "slackConfigRefreshToken")
    ]
    pulumi.runtime.set_all_config(values, secret_keys)
    outputs: dict = {}

    @pulumi.runtime.test
    def program():
        namespace = runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")["program"]
        return namespace["function"].function.id

    original_export = pulumi.export
    pulumi.export = lambda name, value: outputs.__setitem__(name, value)
    try:
        program()
    finally:
        pulumi.export = original_export
    resolved = {}
    for name, value in outputs.items():
        resolved[name] = value
    return mocks, resolved
