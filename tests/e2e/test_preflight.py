"""`python -m infra.preflight`, offline: against a loopback fake of exactly the REST calls it
makes (tests/fakes/google_admin.py), with injected endpoints and credentials."""

import io
import os
import socket
import subprocess
import sys

import pytest
from google.auth.credentials import AnonymousCredentials
from google.oauth2.credentials import Credentials as UserCredentials

from infra.naming import REQUIRED_APIS
from infra.preflight import Endpoints, main
from tests.fakes.google_admin import GCLOUD_CLIENT_PROJECT, FakeGoogleAdmin
from tests.harness import REPO

PROJECT = "acme-bots"
SOME_APIS = [
    "compute.googleapis.com",
    "run.googleapis.com",
    "iam.googleapis.com",
    "storage.googleapis.com",
    "logging.googleapis.com",
    "cloudbuild.googleapis.com",
    "pubsub.googleapis.com",
]


@pytest.fixture
def google():
    fake = FakeGoogleAdmin(PROJECT, enabled=SOME_APIS).start()
    yield fake
    fake.stop()


def run(fake, *args, credentials=None):
    out = io.StringIO()
    endpoints = Endpoints(resource_manager=fake.url, billing=fake.url, service_usage=fake.url)
    code = main(
        ["--project", PROJECT, "--region", "europe-west1", *args],
        credentials=credentials or AnonymousCredentials(),
        endpoints=endpoints,
        out=out,
    )
    return code, out.getvalue().splitlines()


def line(lines, name):
    found = [x for x in lines if x.split(":", 1)[0].split(maxsplit=1)[-1] == name]
    assert len(found) == 1, (name, lines)
    return found[0]


def test_a_ready_project_passes_every_check_with_exactly_the_documented_calls(google):
    code, lines = run(google)
    assert code == 0 and len(lines) == 5 and all(x.startswith("ok") for x in lines), lines
    assert "gcf-v2-sources-123456789012-europe-west1" in line(lines, "project")
    missing = [api for api in REQUIRED_APIS if api not in SOME_APIS]
    assert f"enables the {len(missing)} not yet enabled" in line(lines, "APIs") and all(m in line(lines, "APIs") for m in missing)
    paths = [(verb, path) for verb, path, _ in google.calls]
    assert paths == [
        ("GET", f"/v3/projects/{PROJECT}"),
        ("GET", f"/v1/projects/{PROJECT}/billingInfo"),
        *[("GET", f"/v1/projects/{PROJECT}/services")] * 3,  # 7 services, 3 a page
        ("POST", f"/v1/projects/{PROJECT}:getEffectiveOrgPolicy"),
    ]


def test_billing_off_is_a_problem_with_the_command_that_fixes_it(google):
    google.billing = False
    code, lines = run(google)
    assert code == 1
    assert line(lines, "billing").startswith("PROBLEM") and f"gcloud billing projects link {PROJECT}" in line(lines, "billing")


def test_domain_restricted_sharing_is_a_problem_only_for_allUsers(google):
    google.allowed_domains = ["C0abc123"]
    code, lines = run(google)
    sharing = line(lines, "domain-restricted sharing")
    assert code == 1 and sharing.startswith("PROBLEM") and "pulumi config set publicAccess invokerIamCheckDisabled" in sharing
    code, lines = run(google, "--public-access", "invokerIamCheckDisabled")
    assert code == 0 and line(lines, "domain-restricted sharing").startswith("ok")


def test_user_credentials_without_a_quota_project(google):
    code, lines = run(google, credentials=UserCredentials(token="ya29.test"))
    assert code == 1
    assert "gcloud auth application-default set-quota-project acme-bots" in line(lines, "quota project")
    assert GCLOUD_CLIENT_PROJECT in line(lines, "billing")  # what Google then answers: API not enabled
    assert all(quota is None for _, _, quota in google.calls)


def test_the_quota_project_is_sent_and_an_api_disabled_there_is_named(google):
    google.disabled_in_quota_project = {"cloudbilling.googleapis.com"}
    code, lines = run(google, credentials=UserCredentials(token="ya29.test", quota_project_id="acme-admin"))
    assert code == 1 and line(lines, "quota project").startswith("ok")
    assert "gcloud services enable cloudbilling.googleapis.com --project acme-admin" in line(lines, "billing")
    assert line(lines, "project").startswith("ok") and line(lines, "APIs").startswith("ok")
    assert {quota for _, _, quota in google.calls} == {"acme-admin"}


def test_a_project_you_cannot_see(google):
    google.visible = False
    code, lines = run(google)
    assert code == 1 and "PERMISSION_DENIED" in line(lines, "project")


def test_unreachable_apis_give_one_line_each_and_no_traceback():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"  # bound, never listening: refused
        out = io.StringIO()
        code = main(
            ["--project", PROJECT], credentials=AnonymousCredentials(), endpoints=Endpoints(closed, closed, closed), out=out
        )
    lines = out.getvalue().splitlines()
    assert code == 1 and len(lines) == 5 and "Traceback" not in out.getvalue()
    assert all("could not check: ConnectionError" in x for x in lines[1:])


def test_without_credentials_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "GCE_"))}
    env.update(
        CLOUDSDK_CONFIG=str(tmp_path),
        HOME=str(tmp_path),
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
        PYTHONPATH=str(REPO),
    )
    done = subprocess.run(
        [sys.executable, "-m", "infra.preflight", "--project", PROJECT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 1 and len(output) == 1, output
    assert output[0].startswith("PROBLEM  credentials:") and "gcloud auth application-default login" in output[0]


def test_a_bad_region_is_refused_before_any_call(google):
    code, lines = run(google, "--region", "Europe West")
    assert code == 1 and lines[0].startswith("PROBLEM  region") and google.calls == []


def test_the_public_access_modes_are_the_stacks():
    from infra.config import PUBLIC_ACCESS_MODES
    from infra.preflight import MODES

    assert MODES == PUBLIC_ACCESS_MODES  # preflight keeps its own copy to avoid importing pulumi
