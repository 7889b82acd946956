"""ServiceIdentities: one service account per role, none of them the default compute one.

  runtime  the function's identity: reads its three secrets, enqueues tasks (grants elsewhere,
           on each resource, never project-wide);
  invoker  the identity Cloud Tasks signs OIDC tokens as (checked by the task route);
  build    the Cloud Build identity for the function's build.

The build identity's grant, and why it is project-wide: a gen2 build does not read our bucket.
Cloud Functions copies the archive into Google's staging bucket `gcf-v2-sources-PROJECT_NUMBER-
REGION`, which it creates in the project on the first deploy (so no bucket-level grant can name it
beforehand), and the build downloads it from there (the failure without a grant:
hashicorp/terraform-provider-google#20571, "Access to bucket gcf-v2-sources-... denied").
Of the documented sets, roles/run.builder is the narrowest: Cloud Run's "Set build service account"
page (cloud.google.com/run/docs/configuring/services/build-service-account) names it as the one
role the build account of a function needs, and it holds only logging.logEntries.create,
artifactregistry.repositories.{upload,download,delete}Artifacts, source.repos.get and
storage.objects.get (cloud.google.com/iam/docs/roles-permissions/run). pulumi-gcp's
"Cloudfunctions2 Basic Builder" example grants logging.logWriter + artifactregistry.writer +
storage.objectAdmin instead (a superset); roles/cloudbuild.builds.builder is broader still.

IAM changes take time to propagate; the same example waits 60 s between the grants and the
function (pulumiverse-time Sleep), so a first `pulumi up` does not build before the grant works.
The wait runs when the grants are created or change (`triggers`), not on every update.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pulumiverse_time

BUILD_PROJECT_ROLES = ("roles/run.builder",)
IAM_PROPAGATION = "60s"


class ServiceIdentities(pulumi.ComponentResource):
    def __init__(self, name: str, project: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("teambot:infra:ServiceIdentities", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def account(suffix: str, title: str) -> gcp.serviceaccount.Account:
            return gcp.serviceaccount.Account(
                f"{name}-{suffix}",
                project=project,
                account_id=f"{name}-{suffix}"[:30],
                display_name=f"{name}: {title}",
                opts=child,
            )

        self.runtime = account("run", "Slack bot function runtime")
        self.invoker = account("tasks", "Cloud Tasks OIDC invoker")
        self.build = account("build", "Cloud Build for the function")
        self.build_grants = [
            gcp.projects.IAMMember(
                f"{name}-build-{role.split('.')[-1].split('/')[-1]}",
                project=project,
                role=role,
                member=self.build.email.apply(lambda e: f"serviceAccount:{e}"),
                opts=child,
            )
            for role in BUILD_PROJECT_ROLES
        ]
        # Depend on this, not on the grants: it completes IAM_PROPAGATION after they exist.
        self.build_ready = pulumiverse_time.Sleep(
            f"{name}-build-iam-propagation",
            create_duration=IAM_PROPAGATION,
            triggers={"roles": ",".join(BUILD_PROJECT_ROLES)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.build_grants),
        )
        self.register_outputs(
            {
                "runtime": self.runtime.email,
                "invoker": self.invoker.email,
                "build": self.build.email,
            }
        )
