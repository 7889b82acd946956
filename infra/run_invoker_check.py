"""RunInvokerCheckDisabled: turns off Cloud Run's invoker IAM check on the function's service,
so Slack can call it without an `allUsers` binding (config `publicAccess: invokerIamCheckDisabled`).

Why: organizations created since 2024 enforce domain-restricted sharing
(`iam.allowedPolicyMemberDomains`), which refuses `allUsers` in any IAM policy. Cloud Run's docs
recommend disabling the invoker check instead, and name it the way to go under that constraint
(cloud.google.com/run/docs/authenticating/public#invoker_check). The Cloud Functions v2 API has
no such field (hashicorp/terraform-provider-google#23360); the setting lives on the function's
Cloud Run service, as `invokerIamDisabled` of the Run Admin API v2 (what the Console's "Allow
public access" and `gcloud run services update --no-invoker-iam-check` set). This resource PATCHes
that one field: `PATCH https://run.googleapis.com/v2/{service}?updateMask=invokerIamDisabled`,
then waits for the returned long-running operation
(cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/patch).

Cloud Functions owns that service and rewrites it when it deploys a new revision, so the
resource takes the function's `update_time` as an input: each deploy of the function re-applies
the setting. Deleting the resource (switching back to `allUsers`, or destroying the
stack) turns the check back on. The caller (you, running `pulumi up`) needs run.services.update
on the service (roles/run.admin, or project Owner/Editor).

The provider is a Pulumi dynamic provider. Pulumi pickles it (dill) into the state and runs it
in a separate process that may not be able to import `infra` (pulumi/pulumi#7453); the class is
therefore built inside a function, which makes dill pickle its code by value, and its methods
import what they use themselves. tests/e2e/test_run_invoker_check.py loads it in a process where
`infra` is not importable.
"""

from __future__ import annotations

import pulumi
import pulumi.dynamic

RUN_API = "https://run.googleapis.com"


def make_provider(endpoint: str = RUN_API, *, anonymous: bool = False, poll_s: float = 2.0, wait_s: float = 300.0):
    """A dynamic provider that PATCHes `invokerIamDisabled` at `endpoint` (a loopback fake in
    tests, with anonymous credentials)."""

    class RunInvokerCheckProvider(pulumi.dynamic.ResourceProvider):
        def __init__(self):
            self.endpoint = endpoint.rstrip("/")
            self.anonymous = anonymous
            self.poll_s = poll_s
            self.wait_s = wait_s

        def _session(self):
            from google.auth.transport.requests import AuthorizedSession

            if self.anonymous:
                from google.auth.credentials import AnonymousCredentials

                return AuthorizedSession(AnonymousCredentials())
            import google.auth

            credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            return AuthorizedSession(credentials)

        def _set(self, service: str, disabled: bool, *, missing_ok: bool = False) -> None:
            import time

            session = self._session()
            response = session.patch(
                f"{self.endpoint}/v2/{service}",
                params={"updateMask": "invokerIamDisabled"},
                json={"invokerIamDisabled": disabled},
                timeout=30,
            )
            if response.status_code == 404 and missing_ok:
                return
            if response.status_code >= 300:
                raise RuntimeError(
                    f"Run Admin API refused invokerIamDisabled={disabled} on {service}: "
                    f"{response.status_code} {response.text[:300]}"
                )
            operation = response.json()
            deadline = time.monotonic() + self.wait_s
            while not operation.get("done"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"operation {operation.get('name')} not done after {self.wait_s:.0f} s")
                time.sleep(self.poll_s)
                polled = session.get(f"{self.endpoint}/v2/{operation['name']}", timeout=30)
                if polled.status_code >= 300:
                    raise RuntimeError(f"polling {operation.get('name')}: {polled.status_code} {polled.text[:300]}")
                operation = polled.json()
            if operation.get("error"):
                raise RuntimeError(f"invokerIamDisabled={disabled} on {service} failed: {operation['error']}")

        def create(self, props):
            self._set(props["service"], True)
            return pulumi.dynamic.CreateResult(id_=props["service"], outs=dict(props))

        def diff(self, _id, olds, news):
            changed = [k for k in ("service", "functionUpdated", "function") if olds.get(k) != news.get(k)]
            return pulumi.dynamic.DiffResult(
                changes=bool(changed),
                replaces=["service"] if "service" in changed else [],
                delete_before_replace=True,
            )

        def update(self, _id, _olds, news):
            self._set(news["service"], True)
            return pulumi.dynamic.UpdateResult(outs=dict(news))

        def delete(self, _id, props):
            self._set(props["service"], False, missing_ok=True)  # gone with the function: nothing to restore

    return RunInvokerCheckProvider()


class RunInvokerCheckDisabled(pulumi.dynamic.Resource):
    """Inputs: `function` (its name, known at preview, for the policy pack), `service`
    (projects/P/locations/R/services/S), `functionUpdated` (re-applies after each deploy)."""

    def __init__(
        self, name: str, *, function, service, function_updated, provider=None, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(
            provider or make_provider(),
            name,
            {"function": function, "service": service, "functionUpdated": function_updated, "invokerIamDisabled": True},
            opts,
        )
