"""A bounded, expiring set of recently seen keys (per process)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RecentKeys:
    def __init__(self, ttl_s: float = 3600.0, max_size: int = 50_000, clock: Callable[[], float] = time.monotonic):
        self._ttl_s = ttl_s
        self._max_size = max_size
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        """Record `key`; True when it was not seen within the TTL (atomic check-and-set)."""
        now = self._clock()
        with self._lock:
            while self._seen and (len(self._seen) >= self._max_size or now - next(iter(self._seen.values())) > self._ttl_s):
                self._seen.popitem(last=False)
            if key in self._seen:
                return False
            self._seen[key] = now
            return True

    def discard(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)
