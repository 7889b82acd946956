"""The dynamic provider behind `publicAccess: invokerIamCheckDisabled`, against a loopback fake of
the Run Admin API, and in a process that cannot import `infra` (as Pulumi runs it)."""

import base64
import json
import subprocess
import sys

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from infra.run_invoker_check import make_provider
from tests.fakes.run_admin import FakeRunAdmin

SERVICE = "projects/acme/locations/europe-west1/services/slack-bot"
PROPS = {"function": "slack-bot", "service": SERVICE, "functionUpdated": "t1", "invokerIamDisabled": True}


@pytest.fixture
def run_api():
    fake = FakeRunAdmin([SERVICE]).start()
    yield fake
    fake.stop()


def test_create_disables_the_check_and_delete_restores_it(run_api):
    provider = make_provider(run_api.url, anonymous=True, poll_s=0.01, wait_s=5)
    result = provider.create(PROPS)
    assert result.id == SERVICE and run_api.services[SERVICE]["invokerIamDisabled"] is True
    assert [c[0] for c in run_api.calls] == ["PATCH", "GET", "GET"]  # waited for the operation
    provider.delete(SERVICE, PROPS)
    assert run_api.services[SERVICE]["invokerIamDisabled"] is False


def test_each_function_deploy_re_applies_the_setting(run_api):
    provider = make_provider(run_api.url, anonymous=True, poll_s=0.01, wait_s=5)
    assert not provider.diff(SERVICE, PROPS, dict(PROPS)).changes
    redeployed = {**PROPS, "functionUpdated": "t2"}
    assert provider.diff(SERVICE, PROPS, redeployed).changes
    run_api.services[SERVICE]["invokerIamDisabled"] = False  # Cloud Functions rewrote the service
    provider.update(SERVICE, PROPS, redeployed)
    assert run_api.services[SERVICE]["invokerIamDisabled"] is True


def test_a_refusal_fails_the_deploy_and_a_vanished_service_does_not_block_destroy(run_api):
    provider = make_provider(run_api.url, anonymous=True, poll_s=0.01, wait_s=5)
    with pytest.raises(RuntimeError, match="404"):
        provider.create({**PROPS, "service": SERVICE + "-missing"})
    provider.delete(SERVICE + "-missing", {**PROPS, "service": SERVICE + "-missing"})  # no error


def test_the_pickled_provider_runs_where_infra_cannot_be_imported(run_api, tmp_path):
    blob = serialize_provider(make_provider(run_api.url, anonymous=True, poll_s=0.01, wait_s=5))
    script = (
        "import base64, json, sys\n"
        # the repository is installed in the venv (-e .): refuse `infra` here, as a process without it would
        "class NoInfra:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'infra' or name.startswith('infra.'): raise ImportError('infra is not importable here')\n"
        "sys.meta_path.insert(0, NoInfra())\n"
        "import dill\n"
        "provider = dill.loads(base64.b64decode(sys.stdin.readline()))\n"
        "print(json.dumps(provider.create(json.loads(sys.stdin.readline())).outs))\n"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script],
        input=f"{blob}\n{json.dumps(PROPS)}\n",
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["service"] == SERVICE
    assert run_api.services[SERVICE]["invokerIamDisabled"] is True
    assert base64.b64decode(blob)  # what Pulumi stores in the state
