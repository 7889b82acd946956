"""FirestoreUsageStore: the deployed store (USAGE_STORE=firestore), on the official client.

Atomicity: one answer is one batched write (atomic, all four documents or none) of
`set(..., merge=True)` with `firestore.Increment` on the counters, so concurrent answers on any
number of instances add up exactly without a transaction (no read, no contention retries).
Bounds: every call passes `timeout=` and `retry=None` (the client's default retry would keep an
answer's budget check waiting for tens of seconds during an outage); `UsageLedger` decides what a
failure means. `google.cloud.firestore` (grpc) is imported on first use, never on the ack path.
Locally and in tests the client follows FIRESTORE_EMULATOR_HOST (read by the client library).
"""

from __future__ import annotations

import os
import threading

from teambot.usage.store import COLLECTION, Totals, UsageEvent

_clients: dict[tuple, object] = {}
_clients_lock = threading.Lock()


def firestore_client(project: str | None, database: str):
    """One `firestore.Client` per process and database, shared by every store on the usage
    collection (the ledger, the channels' knowledge ids, the approval claims): one channel to open,
    one import on first use. Keyed by the emulator host too (tests point processes at emulators)."""
    key = (project, database, os.environ.get("FIRESTORE_EMULATOR_HOST"))
    with _clients_lock:
        if key not in _clients:
            from google.cloud import firestore

            _clients[key] = firestore.Client(project=project, database=database)
        return _clients[key]


class FirestoreUsageStore:
    def __init__(self, *, database: str = "(default)", project: str | None = None, timeout_s: float = 2.0):
        self.database = database
        self.project = project
        self.timeout_s = timeout_s
        self._client = None

    def _collection(self):
        if self._client is None:
            self._client = firestore_client(self.project, self.database)
        return self._client.collection(COLLECTION)

    def warm(self) -> None:
        """Import the client and open its channel ahead of the first answer's budget check."""
        self._collection()

    def add(self, event: UsageEvent) -> None:
        from google.cloud.firestore import Increment

        collection = self._collection()
        batch = self._client.batch()
        counters = {name: Increment(amount) for name, amount in event.increments().items()}
        for doc_id, fields in event.documents().items():
            batch.set(collection.document(doc_id), {**fields, **counters}, merge=True)
        batch.commit(retry=None, timeout=self.timeout_s)

    def get(self, doc_ids: list[str]) -> dict[str, Totals]:
        collection = self._collection()
        refs = [collection.document(doc_id) for doc_id in doc_ids]
        found = {
            snap.id: Totals.of(snap.to_dict())
            for snap in self._client.get_all(refs, retry=None, timeout=self.timeout_s)
            if snap.exists
        }
        return {doc_id: found.get(doc_id, Totals()) for doc_id in doc_ids}

    def month_users(self, team: str, month: str) -> dict[str, Totals]:
        from google.cloud.firestore import FieldFilter

        # Equality filters only: Firestore serves them by merging the automatic single-field
        # indexes, so no composite index has to be provisioned.
        query = (
            self._collection()
            .where(filter=FieldFilter("kind", "==", "user_month"))
            .where(filter=FieldFilter("team", "==", team))
            .where(filter=FieldFilter("month", "==", month))
        )
        return {doc.get("user"): Totals.of(doc.to_dict()) for doc in query.stream(retry=None, timeout=self.timeout_s)}
