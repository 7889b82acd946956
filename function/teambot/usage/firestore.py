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

import threading

from teambot.usage.store import COLLECTION, Totals, UsageEvent


class FirestoreUsageStore:
    def __init__(self, *, database: str = "(default)", project: str | None = None, timeout_s: float = 2.0):
        self.database = database
        self.project = project
        self.timeout_s = timeout_s
        self._client = None
        self._lock = threading.Lock()

    def _collection(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from google.cloud import firestore

                    self._client = firestore.Client(project=self.project, database=self.database)
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
