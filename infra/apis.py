"""ProjectApis: the Google APIs the stack needs, enabled first and left enabled on destroy
(other workloads in the project may use them)."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra.naming import REQUIRED_APIS


class ProjectApis(pulumi.ComponentResource):
    def __init__(self, name: str, project: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("teambot:infra:ProjectApis", name, None, opts)
        self.services = [
            gcp.projects.Service(
                f"{name}-{api.split('.')[0]}",
                project=project,
                service=api,
                disable_on_destroy=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for api in REQUIRED_APIS
        ]
        self.register_outputs({"services": [s.service for s in self.services]})
