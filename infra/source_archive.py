"""FunctionSource: the source bucket and the archive of function/.

The object name carries a SHA-256 of the files, so a code change uploads a new object and
redeploys the function, and nothing else does (a fixed name never redeploys; a timestamp always
would). No identity of ours reads this bucket: Cloud Functions copies the archive into its own
staging bucket and the build reads it there (see infra/identities.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

EXCLUDED_PARTS = {"__pycache__", ".pytest_cache", ".venv"}


def source_files(root: Path) -> list[Path]:
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not EXCLUDED_PARTS.intersection(p.parts) and p.suffix not in (".pyc", ".pyo")
    )


def source_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in source_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def object_name(root: Path) -> str:
    return f"src-{source_hash(root)[:20]}.zip"


def noncurrent_expiry(retention_days: int) -> list[dict]:
    """Lifecycle rules that never touch the live archive. An `age` condition matches live objects
    too (cloud.google.com/storage/docs/lifecycle#age): after `retention_days` it deleted the archive
    the function builds from, and the next update of the function (a config change rebuilds from
    source) failed. With versioning on, an archive replaced or deleted by Pulumi becomes
    non-current; only those expire, `retention_days` after they stopped being live
    (`days_since_noncurrent_time`, `with_state: ARCHIVED`; cloud.google.com/storage/docs/lifecycle
    #dayssincenoncurrenttime). A live object is never ARCHIVED, so it is never matched."""
    return [{"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": retention_days, "with_state": "ARCHIVED"}}]


class FunctionSource(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        project: str,
        region: str,
        root: Path,
        retention_days: int,
        depends_on: list | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("teambot:infra:FunctionSource", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = gcp.storage.Bucket(
            f"{name}-source",
            project=project,
            location=region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=True,
            versioning={"enabled": True},
            lifecycle_rules=noncurrent_expiry(retention_days),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on or []),
        )
        files = {p.relative_to(root).as_posix(): pulumi.FileAsset(str(p)) for p in source_files(root)}
        self.object = gcp.storage.BucketObject(
            f"{name}-source-archive",
            bucket=self.bucket.name,
            name=object_name(root),
            source=pulumi.AssetArchive(files),
            opts=child,
        )
        self.register_outputs({"bucket": self.bucket.name, "object": self.object.name})
