"""A fake of the four Google REST calls infra/preflight.py makes, on one loopback server:

  GET  /v3/projects/{id}                        Resource Manager v3 projects.get
  GET  /v1/projects/{id}/billingInfo            Cloud Billing v1 projects.getBillingInfo
  GET  /v1/projects/{id}/services               Service Usage v1 services.list (filter, pageSize, pageToken)
  POST /v1/projects/{id}:getEffectiveOrgPolicy  Resource Manager v1 projects.getEffectiveOrgPolicy

Shapes follow the APIs' reference pages on cloud.google.com (Project, ProjectBillingInfo,
ListServicesResponse, OrgPolicy with listPolicy). Like Google, it refuses what it should:
  * a project you can't see: 403 PERMISSION_DENIED (Google answers 403, not 404, so as not to
    reveal whether it exists);
  * a call whose quota project (x-goog-user-project) has the API disabled: 403 with an ErrorInfo
    `reason: SERVICE_DISABLED` naming the service and the consumer project;
  * user credentials without a quota project, for `needs_quota_project` APIs: the same 403, with
    Google's own client project as consumer (what google-auth's warning about user credentials
    without a quota project leads to: "API not enabled").
Services are paged `page_size` at a time so that the client must follow nextPageToken.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from .server import LoopbackServer

GCLOUD_CLIENT_PROJECT = "764086051850"  # gcloud's OAuth client project, the consumer without a quota project
SERVICES = {
    "resource_manager": "cloudresourcemanager.googleapis.com",
    "billing": "cloudbilling.googleapis.com",
    "service_usage": "serviceusage.googleapis.com",
}


class FakeGoogleAdmin(LoopbackServer):
    def __init__(
        self,
        project: str,
        *,
        number: str = "123456789012",
        billing: bool = True,
        enabled=(),
        allowed_domains=(),
        visible: bool = True,
        page_size: int = 3,
    ):
        self.project = project
        self.number = number
        self.billing = billing
        self.enabled = list(enabled)
        self.allowed_domains = list(allowed_domains)  # customer ids: domain-restricted sharing enforced
        self.visible = visible
        self.page_size = page_size
        self.disabled_in_quota_project: set[str] = set()  # API service names
        self.needs_quota_project = True
        self.calls: list[tuple[str, str, str | None]] = []  # (verb, path, x-goog-user-project)

    def _refuse(self, req, status, code, message, details=()):
        req.send_json(code, {"error": {"code": code, "status": status, "message": message, "details": list(details)}})

    def _service_disabled(self, req, service, consumer):
        self._refuse(
            req,
            "PERMISSION_DENIED",
            403,
            f"{service} API has not been used in project {consumer} before or it is disabled.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "SERVICE_DISABLED",
                    "domain": "googleapis.com",
                    "metadata": {"service": service, "consumer": f"projects/{consumer}"},
                }
            ],
        )

    def handle(self, req, verb):
        parts = urlsplit(req.path)
        path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
        quota = req.headers.get("x-goog-user-project")
        self.calls.append((verb, path, quota))
        route = self._route(verb, path)
        if route is None:
            return self._refuse(req, "NOT_FOUND", 404, f"no route {verb} {path}")
        api, project = route
        service = SERVICES[api]
        if quota is None and self.needs_quota_project and req.headers.get("Authorization"):
            return self._service_disabled(req, service, GCLOUD_CLIENT_PROJECT)
        if quota is not None and service in self.disabled_in_quota_project:
            return self._service_disabled(req, service, quota)
        if project != self.project or not self.visible:
            return self._refuse(req, "PERMISSION_DENIED", 403, f"The caller does not have permission on {project}")
        if path.endswith("/billingInfo"):
            return req.send_json(
                200,
                {
                    "name": f"projects/{project}/billingInfo",
                    "projectId": project,
                    "billingAccountName": "billingAccounts/0X0X0X-0X0X0X-0X0X0X" if self.billing else "",
                    "billingEnabled": self.billing,
                },
            )
        if path.endswith("/services"):
            if query.get("filter") != "state:ENABLED":
                return self._refuse(req, "INVALID_ARGUMENT", 400, "this fake serves filter=state:ENABLED only")
            start = int(query.get("pageToken") or 0)
            size = min(int(query.get("pageSize") or 50), self.page_size)
            page = self.enabled[start : start + size]
            body = {
                "services": [
                    {"name": f"projects/{self.number}/services/{s}", "config": {"name": s}, "state": "ENABLED"} for s in page
                ]
            }
            if start + size < len(self.enabled):
                body["nextPageToken"] = str(start + size)
            return req.send_json(200, body)
        if path.endswith(":getEffectiveOrgPolicy"):
            asked = json.loads(req.body() or b"{}").get("constraint")
            policy = {"constraint": asked, "etag": "BwX="}
            if asked == "constraints/iam.allowedPolicyMemberDomains" and self.allowed_domains:
                policy["listPolicy"] = {"allowedValues": self.allowed_domains}
            return req.send_json(200, policy)
        return req.send_json(
            200, {"name": f"projects/{self.number}", "projectId": project, "state": "ACTIVE", "parent": "organizations/111"}
        )

    @staticmethod
    def _route(verb, path):
        for api, pattern, method in (
            ("resource_manager", "/v3/projects/", "GET"),
            ("billing", "/v1/projects/", "GET"),
            ("service_usage", "/v1/projects/", "GET"),
            ("resource_manager", "/v1/projects/", "POST"),
        ):
            if verb != method or not path.startswith(pattern):
                continue
            rest = path[len(pattern) :]
            if api == "billing" and rest.endswith("/billingInfo"):
                return api, rest.removesuffix("/billingInfo")
            if api == "service_usage" and rest.endswith("/services"):
                return api, rest.removesuffix("/services")
            if api == "resource_manager" and verb == "POST" and rest.endswith(":getEffectiveOrgPolicy"):
                return api, rest.removesuffix(":getEffectiveOrgPolicy")
            if api == "resource_manager" and verb == "GET" and "/" not in rest:
                return api, rest
        return None
