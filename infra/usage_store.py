"""UsageStore: the Firestore database of the usage ledger (function/teambot/usage/store.py).

- A database of its own (Native mode), in the function's region, so the grant below can name it
  and nothing else in the project is reachable through it.
- A TTL policy on `usage.expires_at`: Firestore deletes each counter document once that time has
  passed (typically within a day after; https://cloud.google.com/firestore/docs/ttl). The field's
  single-field indexes are switched off (`index_config={}`), as the TTL docs advise for a
  timestamp written in increasing order (it would otherwise be a write hotspot) and as nothing
  queries by it.
- `roles/datastore.user` for the runtime identity only. Firestore has no per-database IAM
  resource: roles are granted on the project. The grant carries an IAM condition on
  `resource.name`, which Firestore evaluates per database (Firestore docs, "IAM Conditions":
  https://cloud.google.com/firestore/docs/security/iam#iam_conditions), so the runtime identity
  can read and write this database's documents and no other database of the project.
  (Not verifiable here: no GCP project; the resource graph is tested under mocks.)
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

COLLECTION = "usage"  # function/teambot/usage/store.py COLLECTION
EXPIRY_FIELD = "expires_at"  # function/teambot/usage/store.py EXPIRY_FIELD
ROLE = "roles/datastore.user"


class UsageStore(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        project: str,
        location: str,
        runtime_member: pulumi.Input[str],
        suffix: pulumi.Input[str],
        depends_on: list | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("teambot:infra:UsageStore", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        api = gcp.projects.Service(
            f"{name}-firestore-api",
            project=project,
            service="firestore.googleapis.com",
            disable_on_destroy=False,
            opts=child,
        )
        after_api = pulumi.ResourceOptions(parent=self, depends_on=[api, *(depends_on or [])])
        # naming.generation_suffix: a fresh id after a destroy. ignore_changes: a stack created
        # before the suffix keeps its database (and its counters); the real name is read back below.
        self.database = gcp.firestore.Database(
            f"{name}-usage",
            project=project,
            name=pulumi.Output.concat(name, "-usage-", suffix),
            location_id=location,
            type="FIRESTORE_NATIVE",
            deletion_policy="DELETE",
            opts=pulumi.ResourceOptions.merge(after_api, pulumi.ResourceOptions(ignore_changes=["name"])),
        )
        self.ttl = gcp.firestore.Field(
            f"{name}-usage-ttl",
            project=project,
            database=self.database.name,
            collection=COLLECTION,
            field=EXPIRY_FIELD,
            ttl_config={},
            index_config={},
            opts=child,
        )
        self.grant = gcp.projects.IAMMember(
            f"{name}-run-datastore-user",
            project=project,
            role=ROLE,
            member=runtime_member,
            condition={
                "title": "only the usage database",
                "description": "The bot's runtime identity may use its own Firestore database only.",
                "expression": pulumi.Output.concat(
                    'resource.name == "projects/', project, "/databases/", self.database.name, '"'
                ),
            },
            opts=after_api,
        )
        self.register_outputs({"database": self.database.name, "grant": self.grant.id})
