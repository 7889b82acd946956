"""A per-workspace, per-method "pause until" shared by every instance of the function.

Slack's rate tiers count per app and per workspace, whatever instance calls (docs.slack.dev/apis/
web-api/rate-limits): ten Cloud Run instances that each learn from their own 429s would spend ten
budgets before each has seen one. So a 429's Retry-After is also published here, and every
instance's WriteBudget (write_budget.py) pauses the method until then and cuts its share, as if
it had seen the 429 itself.

  * `MemoryPauseStore`: one process (the local run, tests that pass one store to two budgets);
  * `FirestorePauseStore`: the deployed store where the instances share Firestore
    (USAGE_STORE=firestore, FIRESTORE_DATABASE): one document per (team, method) in the
    `slack_pause` collection, {team, method, until (epoch s), expires_at}; a plain `set` (the
    later pause wins; two instances that race both publish about the same Retry-After).
  * the same collection says which instances write to a workspace (a `peer_<instance>` document
    each, refreshed every PEER_EVERY_S while it writes there): the budget splits each tier between
    the instances that wrote in the last PEER_LIVE_S, so ten instances plan with one budget
    instead of spending ten before the first 429 (`writers`);
  * `SlackPause` never blocks its caller (the budget calls it under its lock, on the write path):
    `remaining` answers from a cache, refreshed at most every REFRESH_S in a background thread;
    `publish` updates the cache at once and writes in the background. A store that fails is
    logged once and otherwise ignored: the budget then only knows this instance's 429s.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from teambot.core import logs

COLLECTION = "slack_pause"
REFRESH_S = 1.0  # how stale another instance's pause may be when this one reads it
KEEP_S = 3600.0  # expires_at: a TTL policy on the collection may delete a document after this
PEER_EVERY_S = 5.0  # an instance writing to a workspace says so this often ...
PEER_LIVE_S = 20.0  # ... and counts as one of its writers for this long after
# Cold start: a new instance has not yet seen its peers (they say so every PEER_EVERY_S, and they
# start together in a burst, when Cloud Run scales out), so counting "1 writer" would let it spend
# a whole workspace budget in its first seconds: ten fresh instances spent ten chat.startStream
# budgets and drew 19 429s in the ten-process bench. For 2 x PEER_EVERY_S after its first write to a
# workspace (every peer that started with it has said so and been counted by then), it plans with at least COLD_WRITERS writers: the deployed
# default of maxInstances (infra/config.py), the most instances that can share the workspace.
COLD_WRITERS = 10


class MemoryPauseStore:
    def __init__(self):
        self._docs: dict[str, float] = {}
        self._peers: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def read(self, team: str, method: str) -> float:
        with self._lock:
            return self._docs.get(f"{team}_{method}", 0.0)

    def write(self, team: str, method: str, until: float) -> None:
        with self._lock:
            key = f"{team}_{method}"
            self._docs[key] = max(self._docs.get(key, 0.0), until)

    def seen(self, team: str, instance: str, at: float) -> None:
        with self._lock:
            self._peers[(team, instance)] = at

    def peers(self, team: str, since: float) -> int:
        with self._lock:
            return sum(1 for (t, _), at in self._peers.items() if t == team and at >= since)


class FirestorePauseStore:
    """On the official client, imported on first use (never on the ack path); calls bounded by
    `timeout=` and `retry=None`, like the usage store (usage_firestore.py)."""

    def __init__(self, *, database: str = "(default)", project: str | None = None, timeout_s: float = 2.0):
        self.database, self.project, self.timeout_s = database, project, timeout_s
        self._client = None
        self._lock = threading.Lock()

    def _doc(self, team: str, method: str):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    from google.cloud import firestore

                    self._client = firestore.Client(project=self.project, database=self.database)
        return self._client.collection(COLLECTION).document(f"{team}_{method}")

    def read(self, team: str, method: str) -> float:
        snap = self._doc(team, method).get(retry=None, timeout=self.timeout_s)
        return float((snap.to_dict() or {}).get("until") or 0.0) if snap.exists else 0.0

    def write(self, team: str, method: str, until: float) -> None:
        expires = datetime.fromtimestamp(until + KEEP_S, tz=UTC)
        self._doc(team, method).set(
            {"team": team, "method": method, "until": until, "expires_at": expires}, retry=None, timeout=self.timeout_s
        )

    def seen(self, team: str, instance: str, at: float) -> None:
        expires = datetime.fromtimestamp(at + KEEP_S, tz=UTC)
        self._doc(team, f"peer_{instance}").set(
            {"team": team, "kind": "peer", "seen": at, "expires_at": expires}, retry=None, timeout=self.timeout_s
        )

    def peers(self, team: str, since: float) -> int:
        from google.cloud.firestore import FieldFilter

        self._doc(team, "peers")  # the client
        query = (
            self._client.collection(COLLECTION)
            .where(filter=FieldFilter("kind", "==", "peer"))
            .where(filter=FieldFilter("team", "==", team))
        )  # equality only: no composite index
        return sum(1 for doc in query.stream(retry=None, timeout=self.timeout_s) if (doc.get("seen") or 0) >= since)


class SlackPause:
    def __init__(
        self,
        store,
        *,
        wall: Callable[[], float] = time.time,
        refresh_s: float = REFRESH_S,
        background: bool = True,
        cold_writers: int = 1,
    ):
        self.store = store
        self.cold_writers = max(1, cold_writers)
        self._first: dict[str, float] = {}  # team -> when this instance first wrote there (cold until PEER_EVERY_S later)
        self._wall, self._refresh_s, self._background = wall, refresh_s, background
        self._cache: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (until, read at)
        self._busy: set[tuple[str, str]] = set()
        self._failed = False
        self._lock = threading.Lock()
        self.instance = uuid.uuid4().hex[:12]
        self._peers: dict[str, tuple[int, float]] = {}  # team -> (writers seen, read at)
        self._said: dict[str, float] = {}  # team -> when this instance last said it writes there

    def remaining(self, team: str, method: str) -> tuple[float, float]:
        """(seconds left of the shared pause, its end on the wall clock); (0, 0) when none known."""
        key, now = (team, method), self._wall()
        with self._lock:
            until, read_at = self._cache.get(key, (0.0, -1e18))
            stale = now - read_at >= self._refresh_s and key not in self._busy
            if stale:
                self._busy.add(key)
        if stale:
            self._run(self._refresh, key)
            if not self._background:
                with self._lock:
                    until = self._cache[key][0]
        return (until - now, until) if until > now else (0.0, 0.0)

    def writers(self, team: str) -> int:
        """How many instances write to this workspace now (this one included; at least 1): the
        budget splits Slack's tiers between them. Says, every PEER_EVERY_S, that this one does."""
        now = self._wall()
        with self._lock:
            said = now - self._said.get(team, -1e18) >= PEER_EVERY_S
            if said:
                self._said[team] = now
            first = self._first.setdefault(team, now)
            count, read_at = self._peers.get(team, (1, -1e18))
            stale = now - read_at >= PEER_EVERY_S and (team, "peers") not in self._busy
            if stale:
                self._busy.add((team, "peers"))
        if said:
            self._run(self._say, team, now)
        if stale:
            self._run(self._count_peers, team)
            if not self._background:
                with self._lock:
                    count = self._peers[team][0]
        if now - first < 2 * PEER_EVERY_S:  # cold: peers that started writing with it may not be counted yet
            count = max(count, self.cold_writers)
        return max(1, count)

    def _say(self, team: str, at: float) -> None:
        try:
            if hasattr(self.store, "seen"):
                self.store.seen(team, self.instance, at)
        except Exception as exc:
            self._log_failure(exc)

    def _count_peers(self, team: str) -> None:
        count = 1
        try:
            if hasattr(self.store, "peers"):
                count = self.store.peers(team, self._wall() - PEER_LIVE_S)
        except Exception as exc:
            self._log_failure(exc)
        with self._lock:
            self._peers[team] = (max(1, count), self._wall())
            self._busy.discard((team, "peers"))

    def publish(self, team: str, method: str, retry_after_s: float) -> None:
        key, until = (team, method), self._wall() + max(0.0, retry_after_s)
        with self._lock:
            old, read_at = self._cache.get(key, (0.0, -1e18))
            self._cache[key] = (max(old, until), read_at)
        self._run(self._write, key, until)

    # -- background --------------------------------------------------------------------------
    def _run(self, target, *args) -> None:
        if self._background:
            threading.Thread(target=target, args=args, daemon=True, name="slack-pause").start()
        else:
            target(*args)

    def _refresh(self, key: tuple[str, str]) -> None:
        try:
            until = self.store.read(*key)
        except Exception as exc:  # the store is an optimisation: never let it fail an answer
            until = 0.0
            self._log_failure(exc)
        with self._lock:
            old, _ = self._cache.get(key, (0.0, 0.0))
            self._cache[key] = (max(old, until), self._wall())
            self._busy.discard(key)

    def _write(self, key: tuple[str, str], until: float) -> None:
        try:
            self.store.write(key[0], key[1], until)
        except Exception as exc:
            self._log_failure(exc)

    def _log_failure(self, exc: Exception) -> None:
        if not self._failed:
            self._failed = True
            logs.warning("slack_pause_store_failed", error=type(exc).__name__)


def from_settings(settings) -> SlackPause:
    """Firestore where the instances share it (USAGE_STORE=firestore), else this process only."""
    if getattr(settings, "usage_store", "memory") == "firestore":
        return SlackPause(FirestorePauseStore(database=settings.firestore_database), cold_writers=COLD_WRITERS)
    return SlackPause(MemoryPauseStore())
