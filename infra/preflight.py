"""Preflight: checks, before the first `pulumi up`, what would make it fail. Changes nothing.

`python -m infra.preflight --project P [--region R] [--public-access MODE]` (or `make preflight
PROJECT=P`), with your gcloud application-default credentials. One line per check, `ok` or
`PROBLEM` plus what to do; exit status 1 if any check found a problem or could not run.

The REST calls it makes (and nothing else; tests/fakes/google_admin.py fakes exactly these):
  GET  cloudresourcemanager v3 projects/P                        the project exists, you can see it
  GET  cloudbilling v1 projects/P/billingInfo                     billingEnabled
  GET  serviceusage v1 projects/P/services?filter=state:ENABLED   Service Usage answers (the stack
                                                                  enables its APIs through it)
  POST cloudresourcemanager v1 projects/P:getEffectiveOrgPolicy   constraints/iam.allowedPolicyMemberDomains
The calls carry your ADC quota project (google-auth sends it as x-goog-user-project), so the
APIs above must be enabled in that project; a check that can't run says which one to enable.
"""

from __future__ import annotations

import argparse
import re
import sys
import warnings
from dataclasses import dataclass

from infra.naming import REQUIRED_APIS

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
SHARING_CONSTRAINT = "constraints/iam.allowedPolicyMemberDomains"
MODES = ("allUsers", "invokerIamCheckDisabled")  # infra/config.py PUBLIC_ACCESS_MODES (no pulumi import here)
MAX_PAGES = 20
TIMEOUT_S = 20


@dataclass(frozen=True)
class Endpoints:
    resource_manager: str = "https://cloudresourcemanager.googleapis.com"
    billing: str = "https://cloudbilling.googleapis.com"
    service_usage: str = "https://serviceusage.googleapis.com"


@dataclass(frozen=True)
class Result:
    ok: bool
    name: str
    message: str

    def line(self) -> str:
        return f"{'ok     ' if self.ok else 'PROBLEM'}  {self.name}: {self.message}"


class CallFailed(Exception):
    """A call that did not answer 2xx; the message says what to do."""


def _error_text(response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return f"HTTP {response.status_code}"
    for detail in error.get("details") or []:
        if detail.get("reason") == "SERVICE_DISABLED":
            meta = detail.get("metadata") or {}
            project = (meta.get("consumer") or "").removeprefix("projects/")
            return (
                f"{meta.get('service')} is not enabled in project {project}: "
                f"gcloud services enable {meta.get('service')} --project {project}"
            )
    return f"{error.get('status') or response.status_code}: {error.get('message', '')[:200]}"


def _json(response):
    if response.status_code >= 300:
        raise CallFailed(_error_text(response))
    return response.json()


def check_quota_project(credentials, project: str) -> Result:
    from google.oauth2 import credentials as user_credentials

    quota = getattr(credentials, "quota_project_id", None)
    if quota:
        return Result(True, "quota project", f"{quota} (API calls made with your credentials are billed there)")
    if isinstance(credentials, user_credentials.Credentials):
        return Result(
            False,
            "quota project",
            "your user credentials have none; some Google APIs then refuse calls "
            f"('API not enabled', 'quota exceeded'): gcloud auth application-default set-quota-project {project}",
        )
    return Result(True, "quota project", "none needed (service account credentials use their own project)")


def check_project(session, ep: Endpoints, project: str, region: str) -> Result:
    data = _json(session.get(f"{ep.resource_manager}/v3/projects/{project}", timeout=TIMEOUT_S))
    if data.get("state") != "ACTIVE":
        return Result(False, "project", f"{project} is {data.get('state')}; use an active project")
    number = str(data.get("name", "")).removeprefix("projects/")
    return Result(
        True,
        "project",
        f"{project} (number {number}, parent {data.get('parent') or 'none'}); builds "
        f"will read their source from gcf-v2-sources-{number}-{region}",
    )


def check_billing(session, ep: Endpoints, project: str) -> Result:
    data = _json(session.get(f"{ep.billing}/v1/projects/{project}/billingInfo", timeout=TIMEOUT_S))
    if not data.get("billingEnabled"):
        return Result(
            False,
            "billing",
            f"not enabled on {project} (Cloud Functions, Cloud Build and Cloud Tasks need it): "
            f"gcloud billing projects link {project} --billing-account=ACCOUNT_ID",
        )
    return Result(True, "billing", f"enabled ({data.get('billingAccountName')})")


def check_service_usage(session, ep: Endpoints, project: str) -> Result:
    enabled, token = set(), None
    for _ in range(MAX_PAGES):
        params = {"filter": "state:ENABLED", "pageSize": 200, **({"pageToken": token} if token else {})}
        data = _json(session.get(f"{ep.service_usage}/v1/projects/{project}/services", params=params, timeout=TIMEOUT_S))
        enabled |= {s.get("config", {}).get("name") or s.get("name", "").rsplit("/", 1)[-1] for s in data.get("services") or []}
        token = data.get("nextPageToken")
        if not token:
            break
    missing = [api for api in REQUIRED_APIS if api not in enabled]
    if not missing:
        return Result(True, "APIs", f"all {len(REQUIRED_APIS)} required APIs enabled")
    return Result(
        True, "APIs", f"Service Usage answers; `pulumi up` enables the {len(missing)} not yet enabled: {', '.join(missing)}"
    )


def check_sharing(session, ep: Endpoints, project: str, public_access: str) -> Result:
    data = _json(
        session.post(
            f"{ep.resource_manager}/v1/projects/{project}:getEffectiveOrgPolicy",
            json={"constraint": SHARING_CONSTRAINT},
            timeout=TIMEOUT_S,
        )
    )
    listed = data.get("listPolicy") or {}
    # Not set, or ALLOW for all values: allUsers can be bound. Allowed values (customer ids) or
    # DENY: it cannot (cloud.google.com/resource-manager/docs/organization-policy/restricting-domains).
    restricted = bool(listed.get("allowedValues")) or listed.get("allValues") == "DENY"
    if not restricted:
        return Result(True, "domain-restricted sharing", "not enforced; allUsers can be bound")
    if public_access == "invokerIamCheckDisabled":
        return Result(True, "domain-restricted sharing", "enforced; publicAccess invokerIamCheckDisabled does not need allUsers")
    return Result(
        False,
        "domain-restricted sharing",
        "enforced (iam.allowedPolicyMemberDomains): the allUsers binding will be "
        "refused. Run `pulumi config set publicAccess invokerIamCheckDisabled` (README, Deploy), or have an "
        "org admin exempt the project; then rerun with --public-access invokerIamCheckDisabled",
    )


def run_checks(credentials, project: str, region: str, public_access: str, endpoints: Endpoints) -> list[Result]:
    from google.auth.transport.requests import AuthorizedSession

    session = AuthorizedSession(credentials)
    results = [check_quota_project(credentials, project)]
    checks = {
        "project": lambda s, e, p: check_project(s, e, p, region),
        "billing": check_billing,
        "APIs": check_service_usage,
        "domain-restricted sharing": lambda s, e, p: check_sharing(s, e, p, public_access),
    }
    for name, check in checks.items():
        try:
            results.append(check(session, endpoints, project))
        except CallFailed as exc:
            results.append(Result(False, name, f"could not check: {exc}"))
        except Exception as exc:  # network and auth errors: one line, no traceback
            results.append(Result(False, name, f"could not check: {type(exc).__name__}: {str(exc)[:200]}"))
    return results


def load_credentials():
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    warnings.filterwarnings("ignore", message="Your application has authenticated using end user credentials")
    try:
        credentials, _ = google.auth.default(scopes=[SCOPE])
    except DefaultCredentialsError:
        return None
    return credentials


def main(argv: list[str] | None = None, *, credentials=None, endpoints: Endpoints | None = None, out=sys.stdout) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.preflight", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True, help="the GCP project id (gcp:project)")
    parser.add_argument("--region", default="us-central1", help="the stack's region (config `region`)")
    parser.add_argument("--public-access", choices=MODES, default="allUsers", help="the stack's `publicAccess`")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z]+-[a-z]+\d+", args.region):
        print(Result(False, "region", f"{args.region!r} is not a region name like europe-west1").line(), file=out)
        return 1
    credentials = credentials or load_credentials()
    if credentials is None:
        print(
            Result(
                False, "credentials", "no Application Default Credentials found: run `gcloud auth application-default login`"
            ).line(),
            file=out,
        )
        return 1
    results = run_checks(credentials, args.project, args.region, args.public_access, endpoints or Endpoints())
    for result in results:
        print(result.line(), file=out)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
