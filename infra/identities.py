"""ServiceIdentities: one service account per role, none of them the default compute one.

  runtime  the function's identity: reads its three secrets, enqueues tasks (grants elsewhere,
           on each resource, never project-wide);
  invoker  the identity Cloud Tasks signs OIDC tokens as (checked by the task route);
  build    the Cloud Build identity for the function's build (logs, image push, source read).
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

BUILD_PROJECT_ROLES = ("roles/logging.logWriter", "roles/artifactregistry.writer")


class ServiceIdentities(pulumi.ComponentResource):
    def __init__(self, name: str, project: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("teambot:infra:ServiceIdentities", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def account(suffix: str, title: str) -> gcp.serviceaccount.Account:
            return gcp.serviceaccount.Account(
                f"{name}-{suffix}", project=project, account_id=f"{name}-{suffix}"[:30],
                display_name=f"{name}: {title}", opts=child,
            )

        self.runtime = account("run", "Slack bot function runtime")
        self.invoker = account("tasks", "Cloud Tasks OIDC invoker")
        self.build = account("build", "Cloud Build for the function")
        self.build_grants = [
            gcp.projects.IAMMember(
                f"{name}-build-{role.split('.')[-1].split('/')[-1]}", project=project, role=role,
                member=self.build.email.apply(lambda e: f"serviceAccount:{e}"), opts=child,
            )
            for role in BUILD_PROJECT_ROLES
        ]
        self.register_outputs({
            "runtime": self.runtime.email, "invoker": self.invoker.email, "build": self.build.email,
        })
