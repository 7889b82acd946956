"""Answers being generated in this process, by Slack message ts, so a stop on the same
instance cancels at once (closing the model's HTTP stream, even while it is stalled)."""

from __future__ import annotations

import threading


class Generation:
    def __init__(self):
        self.cancelled = threading.Event()
        self._stream = None

    def attach(self, stream) -> None:
        self._stream = stream
        if self.cancelled.is_set():
            stream.close()

    def cancel(self) -> None:
        self.cancelled.set()
        if self._stream is not None:
            self._stream.close()


class Generations:
    def __init__(self):
        self._by_ts: dict[str, Generation] = {}
        self._lock = threading.Lock()

    def register(self, ts: str, generation: Generation) -> None:
        with self._lock:
            self._by_ts[ts] = generation

    def get(self, ts: str) -> Generation | None:
        with self._lock:
            return self._by_ts.get(ts)

    def forget(self, generation: Generation) -> None:
        with self._lock:
            for ts in [ts for ts, g in self._by_ts.items() if g is generation]:
                del self._by_ts[ts]
