"""Once across instances: the first to claim a key acts, every later claim is refused.

An approval prompt's buttons may be clicked twice (a double click, two devices), the clicks may
land on two instances, and its expiry job runs on a third: `claim("mcp_approval:<id>")` decides
which one resumes, denies or expires the answer, and the others change nothing.

  * `MemoryClaims`: one process (local runs, tests).
  * `FirestoreClaims` (USAGE_STORE=firestore, where the instances share Firestore): a document
    `c_<hash>` in the usage collection, written with `create`, which fails when it exists: the
    database, not a read-then-write, decides the race. It carries `expires_at`, so the usage
    collection's TTL policy deletes it in time (infra/usage_store.py).

`claim` raises when the store cannot answer (Firestore down): the job fails, is logged with its
trace and retried by Cloud Tasks, rather than acting twice or never.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime
from typing import Protocol

KIND = "claim"  # the document's `kind` in the usage collection


class Claims(Protocol):
    def claim(self, key: str, keep_s: float) -> bool:
        """True for the first claim of `key` (kept at least `keep_s`), False for every later one."""


def claim_doc_id(key: str) -> str:
    return "c_" + hashlib.sha256(key.encode()).hexdigest()[:40]


class MemoryClaims:
    def __init__(self, clock=time.time):
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def claim(self, key: str, keep_s: float) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._until) > 10_000:  # bounded: forget the claims that are past keeping
                self._until = {k: u for k, u in self._until.items() if u > now}
            if self._until.get(key, 0.0) > now:
                return False
            self._until[key] = now + keep_s
            return True


class FirestoreClaims:
    def __init__(self, *, database: str = "(default)", project: str | None = None, timeout_s: float = 5.0):
        self.database, self.project, self.timeout_s = database, project, timeout_s

    def _doc(self, key: str):
        from teambot.usage.firestore import firestore_client
        from teambot.usage.store import COLLECTION

        return firestore_client(self.project, self.database).collection(COLLECTION).document(claim_doc_id(key))

    def claim(self, key: str, keep_s: float) -> bool:
        from google.api_core.exceptions import AlreadyExists, Conflict

        from teambot.usage.store import EXPIRY_FIELD

        now = time.time()
        fields = {"kind": KIND, "claimed_at": now, EXPIRY_FIELD: datetime.fromtimestamp(now + keep_s, tz=UTC)}
        try:
            self._doc(key).create(fields, retry=None, timeout=self.timeout_s)
            return True
        except (AlreadyExists, Conflict):
            return False


_claims: dict[tuple, Claims] = {}
_claims_lock = threading.Lock()


def claims(settings) -> Claims:
    """One per process and configuration (the memory claims must outlive a job)."""
    key = (settings.usage_store, settings.firestore_database)
    with _claims_lock:
        if key not in _claims:
            _claims[key] = (
                FirestoreClaims(database=settings.firestore_database) if settings.usage_store == "firestore" else MemoryClaims()
            )
        return _claims[key]
