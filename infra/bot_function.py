"""BotFunction: the gen2 Cloud Function `slack_bot`, public to Slack and to nothing else.

Slack calls it without credentials, so its Cloud Run service must be public, in one of two ways
(config `publicAccess`):
  allUsers                 roles/run.invoker for allUsers on the service (FunctionIamMember
                           rejects that role for gen2). Refused where the organization enforces
                           domain-restricted sharing (iam.allowedPolicyMemberDomains).
  invokerIamCheckDisabled  Cloud Run's invoker IAM check turned off on the service
                           (infra/run_invoker_check.py), no IAM binding at all.
Either way every route checks its caller itself: Slack's signature, or the Cloud Tasks OIDC
token (function/teambot/ack/task_auth.py). No run.invoker grant for the tasks identity: on a public
service it changes nothing, and on a private one Google verifies the token and strips its
signature before the function sees it, so the function's own check would refuse every task.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.config import PUBLIC_ALL_USERS, PUBLIC_INVOKER_CHECK_DISABLED
from infra.run_invoker_check import RunInvokerCheckDisabled

ENTRY_POINT = "slack_bot"


class BotFunction(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        project: str,
        region: str,
        runtime: str,
        source_bucket,
        source_object,
        runtime_email,
        build_account_id,
        environment: dict,
        memory: str,
        cpu: str,
        timeout_seconds: int,
        concurrency: int,
        min_instances: int,
        max_instances: int,
        public_access: str = PUBLIC_ALL_USERS,
        depends_on: list | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("teambot:infra:BotFunction", name, None, opts)
        self.function = gcp.cloudfunctionsv2.Function(
            name,
            project=project,
            location=region,
            name=name,
            description="Slack <-> OpenAI team bot",
            build_config={
                "runtime": runtime,
                "entry_point": ENTRY_POINT,
                "service_account": build_account_id,
                "source": {"storage_source": {"bucket": source_bucket, "object": source_object}},
            },
            service_config={
                "available_memory": memory,
                "available_cpu": cpu,
                "timeout_seconds": timeout_seconds,
                "max_instance_request_concurrency": concurrency,
                "min_instance_count": min_instances,
                "max_instance_count": max_instances,
                "service_account_email": runtime_email,
                "environment_variables": environment,
                "ingress_settings": "ALLOW_ALL",
                "all_traffic_on_latest_revision": True,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or []),
        )
        child = pulumi.ResourceOptions(parent=self)
        if public_access == PUBLIC_INVOKER_CHECK_DISABLED:
            self.public = RunInvokerCheckDisabled(
                f"{name}-invoker-check-disabled",
                function=self.function.name,
                service=self.function.service_config.apply(lambda sc: sc.service if sc else None),
                function_updated=self.function.update_time,
                opts=child,
            )
        else:
            self.public = gcp.cloudrunv2.ServiceIamMember(
                f"{name}-public",
                project=project,
                location=region,
                name=self.function.name,
                role="roles/run.invoker",
                member="allUsers",
                opts=child,
            )
        self.register_outputs({"name": self.function.name, "service_url": self.function.url})
