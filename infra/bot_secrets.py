"""BotSecrets: the three Secret Manager secrets, their versions, and secretAccessor for the
runtime identity only, granted per secret.

Values come from `pulumi config set --secret`. They are written with `secret_data_wo`
(write-only: the GCP provider keeps no copy in the resource's outputs). That does not keep them
out of Pulumi: the stack config holds them, and Pulumi's docs on write-only fields say the
initial value is still written to the state's inputs, encrypted as a secret
(pulumi-terraform-bridge#3201). Anyone who can decrypt the stack can read them; to keep a key out
of Pulumi entirely, leave the config key unset and add versions with `python -m infra.rotate`.
A changed value bumps
`secret_data_wo_version`, which adds a new version (the old one is disabled, not destroyed);
the function reads `versions/latest`,
so the function itself is never replaced by a key change. Until a value is set (first deploy,
before the Slack app exists) the version holds the placeholder "unset", which the function
treats as "not configured".

When the stack manages the Slack app (infra/slack_app.py) two things are added: a fourth secret,
`<name>-slack-client-secret` (SLACK_CLIENT_SECRET, for the install route), created only when its
value is given; and, for the env vars in `writable`, `roles/secretmanager.secretVersionAdder`
for the runtime identity on that one secret (the install route writes the bot token there).
Nothing else may add versions.

`readable`: secrets the admin made and the stack does not own, (project, secret id), today every
MCP server's `authorization_secret` (StackConfig.mcp_authorization_secrets): secretAccessor for the
runtime identity on each of those secrets alone, never project-wide. The secret must exist before
`pulumi up` (the grant is on it), and the deployer needs permission to set its IAM policy.
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_gcp as gcp

from infra.naming import SECRET_KINDS

PLACEHOLDER = "unset"
CLIENT_SECRET = ("slack-client-secret", "SLACK_CLIENT_SECRET")  # (secret id suffix, env var): managed app only


def wo_version(value: str) -> int:
    """A stable number for a value, so only a changed value adds a version. A 40-bit prefix of
    the SHA-256 of a high-entropy key reveals nothing useful about it."""
    return int(hashlib.sha256(value.encode()).hexdigest()[:10], 16)


class BotSecrets(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        project: str,
        values: dict[str, pulumi.Output | None],
        accessor: pulumi.Input[str],
        writable: tuple[str, ...] = (),
        readable: list[tuple[str, str]] | tuple = (),
        depends_on: list | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("teambot:infra:BotSecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, depends_on=depends_on or [])
        self.version_names: dict[str, pulumi.Output] = {}  # env var -> projects/P/secrets/S/versions/latest
        self.secret_ids: dict[str, pulumi.Output] = {}
        self.grants = []
        self.versions = []
        kinds = list(SECRET_KINDS.values()) + ([CLIENT_SECRET] if CLIENT_SECRET[1] in values else [])
        for suffix, env_var in kinds:
            sid = f"{name}-{suffix}"  # == naming.secret_id(name, kind) for the three fixed ones
            secret = gcp.secretmanager.Secret(
                sid,
                project=project,
                secret_id=sid,
                replication={"auto": {}},
                labels={"app": name},
                opts=child,
            )
            value = values.get(env_var)
            data = pulumi.Output.secret(value if value is not None else "").apply(lambda v: v or PLACEHOLDER)
            self.versions.append(
                gcp.secretmanager.SecretVersion(
                    f"{sid}-version",
                    secret=secret.id,
                    secret_data_wo=data,
                    secret_data_wo_version=pulumi.Output.from_input(data).apply(wo_version),
                    deletion_policy="DISABLE",  # a replaced version is disabled, not destroyed: rollback stays possible
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
            self.grants.append(
                gcp.secretmanager.SecretIamMember(
                    f"{sid}-accessor",
                    project=project,
                    secret_id=secret.secret_id,
                    role="roles/secretmanager.secretAccessor",
                    member=accessor,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
            if env_var in writable:
                self.grants.append(
                    gcp.secretmanager.SecretIamMember(
                        f"{sid}-version-adder",
                        project=project,
                        secret_id=secret.secret_id,
                        role="roles/secretmanager.secretVersionAdder",
                        member=accessor,
                        opts=pulumi.ResourceOptions(parent=self),
                    )
                )
            self.secret_ids[env_var] = secret.secret_id
            self.version_names[env_var] = pulumi.Output.concat(
                "projects/", project, "/secrets/", secret.secret_id, "/versions/latest"
            )
        for secret_project, secret_id in readable:
            self.grants.append(
                gcp.secretmanager.SecretIamMember(
                    f"{name}-read-{secret_project}-{secret_id}",
                    project=secret_project,
                    secret_id=secret_id,
                    role="roles/secretmanager.secretAccessor",
                    member=accessor,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or []),
                )
            )
        self.register_outputs({"secrets": self.secret_ids})
