"""BotFunction: the gen2 Cloud Function `slack_bot`, public to Slack and to nothing else.

Gen2 functions are Cloud Run services; only roles/run.invoker for allUsers on that service makes
it reachable by Slack (FunctionIamMember rejects that role). The invoker identity gets
run.invoker too, so tasks keep working if a team later makes the function private.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

ENTRY_POINT = "slack_bot"


class BotFunction(pulumi.ComponentResource):
    def __init__(
        self, name: str, *, project: str, region: str, runtime: str, source_bucket, source_object,
        runtime_email, build_account_id, invoker_member, environment: dict, memory: str, cpu: str,
        timeout_seconds: int, concurrency: int, min_instances: int, max_instances: int,
        depends_on: list | None = None, opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("teambot:infra:BotFunction", name, None, opts)
        self.function = gcp.cloudfunctionsv2.Function(
            name, project=project, location=region, name=name,
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
        self.public = gcp.cloudrunv2.ServiceIamMember(
            f"{name}-public", project=project, location=region, name=self.function.name,
            role="roles/run.invoker", member="allUsers", opts=child,
        )
        self.tasks_invoker = gcp.cloudrunv2.ServiceIamMember(
            f"{name}-tasks-invoker", project=project, location=region, name=self.function.name,
            role="roles/run.invoker", member=invoker_member, opts=child,
        )
        self.register_outputs({"name": self.function.name, "service_url": self.function.url})
