"""Answers being generated in this process, by Slack message ts, so a stop on the same
instance cancels at once (closing the model's HTTP stream, even while it is stalled); and by
thread, for the native stop button (agent_session_stopped names the thread, and its
streaming_message_ts list is empty when the answer has no native stream yet)."""

from __future__ import annotations

import threading


class Generation:
    """One answer being written. `end()` and `cancel()` decide, under one lock, which came first:
    once the model has finished, the answer is complete even though the worker still writes its
    last Slack message and wraps up, so a stop from then on is told "already complete" rather
    than "Stopped." over an answer that shows in full."""

    def __init__(self, question_ts: str = ""):
        self.question_ts = question_ts  # the message it answers: its own messages come later
        self.cancelled = threading.Event()
        self._ended = False
        self._stream = None
        self._lock = threading.Lock()

    def attach(self, stream) -> None:
        self._stream = stream
        if self.cancelled.is_set():
            stream.close()

    def end(self) -> bool:
        """The model is done: stops from now on find the answer complete. False when a stop came first."""
        with self._lock:
            if not self.cancelled.is_set():
                self._ended = True
            return self._ended

    def cancel(self) -> bool:
        """Stop the answer (closing the model stream at once); False when it had already ended."""
        with self._lock:
            if self._ended:
                return False
            self.cancelled.set()
        if self._stream is not None:
            self._stream.close()
        return True


class Generations:
    def __init__(self):
        self._by_ts: dict[str, Generation] = {}
        self._by_thread: dict[tuple[str, str], list[Generation]] = {}
        self._lock = threading.Lock()

    def register_thread(self, channel: str, thread_ts: str, generation: Generation) -> None:
        with self._lock:
            self._by_thread.setdefault((channel, thread_ts), []).append(generation)

    def in_thread(self, channel: str, thread_ts: str) -> list[Generation]:
        with self._lock:
            return list(self._by_thread.get((channel, thread_ts), ()))

    def first_message_in_flight(self, channel: str, thread_ts: str, ts: str) -> Generation | None:
        """The one answer of this process in the thread whose first message Slack has created but
        whose ts it doesn't know yet (chat.startStream / chat.postMessage not returned), when
        message `ts` can be that message (it is later than the question). None if there is no
        such answer, or more than one (then the stop goes through Slack, which is never wrong)."""
        with self._lock:
            with_messages = {id(g) for g in self._by_ts.values()}
            candidates = [
                g
                for g in self._by_thread.get((channel, thread_ts), ())
                if id(g) not in with_messages and g.question_ts and float(g.question_ts) < float(ts)
            ]
        return candidates[0] if len(candidates) == 1 else None

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
            for key in [k for k, gs in self._by_thread.items() if generation in gs]:
                self._by_thread[key] = [g for g in self._by_thread[key] if g is not generation]
                if not self._by_thread[key]:
                    del self._by_thread[key]
