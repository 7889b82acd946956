"""Slack write budget shared by every answer of an instance.

Slack's Web API limits count per app, per workspace, per method, across all conversations
(https://api.slack.com/apis/rate-limits; tiers in README "Platform notes: Slack rate limits").
Twenty answers each writing once a second would be 1,200 writes a minute against chat.update's ~50.
So the budget, one object per process (context.Services):

  * keeps, per (team, method), a sliding one-minute log of the calls this instance made or has
    reserved, and never lets it exceed `headroom` x the tier (x this instance's `share`);
  * spaces the periodic writes of one answer by an interval that grows with the number of live
    answers writing through the same method, so their sum stays under the tier;
  * keeps `reserve` of each window for calls that finish a message (stop, final update): periodic
    writes give way to them, so the end of an answer is not starved by the middles of others;
  * on a 429, pauses that method for every answer of the instance for Retry-After, then resumes
    at the window's pace (no burst of retries);
  * across instances (Cloud Run may run several, each with its own budget) it adapts from 429s:
    the instance's share of that method's tier is cut by `CUT` after a 429 and grows back linearly
    over `RECOVERY_S`. Without a shared store that is the best an instance can do; see the README.
    The share governs what can wait or be done another way (periodic writes, native starts:
    `ready`/`try_take`); a call that must happen (`take`: a stop, a final update) is held only
    by the tier itself and by Retry-After pauses, so the end of an answer is never starved by
    this instance's own caution.

  * final text first: an answer that writes in update mode owes its message one final
    chat.update; `admit` counts that debt against the window before the answer starts (no
    room: the writer posts instead, slack_reply.py) and periodic writes leave room for every debt,
    so intermediate updates thin out under pressure and a finish never queues behind them;
  * across instances, a 429 is also published on a shared per-workspace "pause until"
    (slack_pause.py, a Firestore document where the instances share Firestore): every
    instance then pauses that method and cuts its share, as if it had seen the 429 itself.

Pending text is not the budget's business: the writer sends everything pending at each write.

Why one module of ~290 lines: the token buckets, 429 pauses and the per-instance share of
Slack's tiers are one algorithm; pause.py holds the part shared across instances.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Calls per window, per app per workspace (method pages on api.slack.com/methods, "Rate limits").
# chat.postMessage is "special": about 1 a second per channel with short bursts, modelled as 5 per
# 5 s per channel; its workspace-wide limit is not published, so none is assumed.
MINUTE = 60.0
TIERS: dict[str, tuple[int, float]] = {
    "chat.startStream": (20, MINUTE),  # Tier 2
    "chat.stopStream": (20, MINUTE),  # Tier 2
    "chat.update": (50, MINUTE),  # Tier 3
    "chat.delete": (50, MINUTE),  # Tier 3
    "conversations.replies": (50, MINUTE),  # Tier 3
    "assistant.threads.setStatus": (50, MINUTE),  # Tier 3 (see README)
    "chat.appendStream": (100, MINUTE),  # Tier 4
    "chat.postEphemeral": (100, MINUTE),  # Tier 4
}
PER_CHANNEL: dict[str, tuple[int, float]] = {"chat.postMessage": (5, 5.0)}
HEADROOM = 0.9  # Slack counts on arrival; our clock counts on reservation: keep a margin
RESERVE = 0.25  # of each window, kept for calls that finish a message
CUT = 0.5  # share kept after a 429 (multiplicative decrease)
MIN_SHARE = 0.2
RECOVERY_S = 120.0  # from MIN_SHARE back to 1.0 without further 429s (additive increase)
MAX_WAIT_S = 120.0  # past this a call goes out anyway; a 429 then pauses it properly


@dataclass
class _Window:
    limit: int
    length_s: float
    times: list  # call times, sorted; reservations may lie in the future
    paused_until: float = 0.0
    share: float = 1.0
    share_at: float = 0.0  # when `share` was last set
    rate_limited: int = 0  # 429s received for this key
    team: str = ""
    method: str = ""
    owed: int = 0  # final writes promised to answers in progress (admit / settle)
    shared_seen: float = 0.0  # the shared pause already taken into account (its end, wall clock)


class Lease:
    """One live answer: which method its periodic writes go through (for the interval)."""

    def __init__(self, budget: "WriteBudget", team: str):
        self._budget, self.team, self.method = budget, team, None

    def uses(self, method: str) -> None:
        with self._budget._lock:
            self.method = method

    def end(self) -> None:
        with self._budget._lock:
            self._budget._leases.discard(self)


class WriteBudget:
    def __init__(
        self,
        tiers: dict[str, tuple[int, float]] | None = None,
        per_channel: dict[str, tuple[int, float]] | None = None,
        *,
        headroom: float = HEADROOM,
        processes: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        max_wait_s: float = MAX_WAIT_S,
    ):
        self.tiers = TIERS if tiers is None else tiers
        self.per_channel = PER_CHANNEL if per_channel is None else per_channel
        self.headroom = headroom
        self.processes = max(1, processes)  # worker processes of the instance: each gets 1/processes
        self._clock, self._sleep, self._max_wait_s = clock, sleep, max_wait_s
        self._windows: dict[tuple, _Window] = {}
        self._leases: set[Lease] = set()
        self._lock = threading.Lock()
        self.board = None  # slack_pause.SlackPause: the pauses shared with other instances (SlackOps sets it)

    # -- answers ---------------------------------------------------------------------------
    def join(self, team: str) -> Lease:
        lease = Lease(self, team)
        with self._lock:
            self._leases.add(lease)
        return lease

    def live(self, team: str, method: str) -> int:
        with self._lock:
            return sum(1 for lease in self._leases if lease.team == team and lease.method == method)

    def interval(self, team: str, method: str, base_s: float) -> float:
        """Least time between two periodic writes of one answer through `method`: the periodic
        part of the window shared by every live answer writing through it."""
        window = self._window(team, method, None)
        if window is None:
            return base_s
        with self._lock:
            periodic = max(1.0, self._cap(window) * (1 - RESERVE))
        return max(base_s, self.live(team, method) * window.length_s / periodic)

    # -- calls -----------------------------------------------------------------------------
    def ready(self, team: str, method: str, channel: str | None = None, *, periodic: bool = True) -> bool:
        """Whether a call would go out now. Periodic writes leave `RESERVE` of the window."""
        keys = self._keys(team, method, channel)
        with self._lock:
            now = self._clock()
            return all(self._free(w, now, periodic) for w in keys)

    def try_take(self, team: str, method: str, channel: str | None = None, *, periodic: bool = True) -> bool:
        keys = self._keys(team, method, channel)
        with self._lock:
            now = self._clock()
            if not all(self._free(w, now, periodic) for w in keys):
                return False
            for w in keys:
                bisect.insort(w.times, now)
            return True

    def admit(self, team: str, method: str) -> bool:
        """Promise one final write of `method` to an answer, if the window has room for it beside
        the calls made and the finals already promised; `settle` when it is written (or dropped)."""
        window = self._window(team, method, None)
        if window is None:
            return True
        with self._lock:
            now = self._clock()
            self._observe_shared(window, now)
            if now < window.paused_until or self._count(window, now) + window.owed >= self._cap(window):
                return False
            window.owed += 1
            return True

    def settle(self, team: str, method: str) -> None:
        window = self._window(team, method, None)
        if window is not None:
            with self._lock:
                window.owed = max(0, window.owed - 1)

    def owed(self, team: str, method: str) -> int:
        window = self._window(team, method, None)
        with self._lock:
            return window.owed if window else 0

    def take(self, team: str, method: str, channel: str | None = None) -> float:
        """Reserve the next slot of `method` (and of its channel) and wait for it; returns the
        seconds waited. Slots are handed out in order, so waiting calls never burst."""
        keys = self._keys(team, method, channel)
        if not keys:
            return 0.0
        started = self._clock()
        with self._lock:
            slot = max(self._next_slot(w, started) for w in keys)
            for w in keys:
                bisect.insort(w.times, slot)
        waited = 0.0
        while waited < self._max_wait_s:
            with self._lock:
                now = self._clock()
                for w in keys:
                    self._observe_shared(w, now)
                resume = max([slot, *(w.paused_until for w in keys)])
            if now >= resume:
                break
            self._sleep(min(resume - now, self._max_wait_s - waited))
            waited = self._clock() - started
        return self._clock() - started

    def rate_limited(self, team: str, method: str, retry_after_s: float, channel: str | None = None) -> None:
        """A 429: pause the method for every answer, and shrink this instance's share of it
        (once per pause: the 429s of one congestion count once)."""
        keys = self._keys(team, method, channel) or [self._window(team, method, None, create_unknown=True)]
        with self._lock:
            now = self._clock()
            for w in keys:
                if w.paused_until <= now:
                    w.share = max(MIN_SHARE, self._share(w, now) * CUT)
                    w.share_at = now
                w.paused_until = max(w.paused_until, now + max(0.0, retry_after_s))
                w.rate_limited += 1
        if self.board is not None and channel is None:  # per-channel limits concern this channel only
            self.board.publish(team, method, retry_after_s)

    # -- figures (logs, tests, benchmarks) ---------------------------------------------------
    def share(self, team: str, method: str) -> float:
        window = self._window(team, method, None)
        with self._lock:
            return self._share(window, self._clock()) if window else 1.0

    def paused_for(self, team: str, method: str) -> float:
        window = self._window(team, method, None)
        with self._lock:
            return max(0.0, window.paused_until - self._clock()) if window else 0.0

    # -- internals (callers hold self._lock where noted) -------------------------------------
    def _window(self, team: str, method: str, channel: str | None, *, create_unknown: bool = False) -> _Window | None:
        table = self.per_channel if channel is not None else self.tiers
        figure = table.get(method) or ((1_000_000, MINUTE) if create_unknown else None)
        if figure is None:
            return None
        key = (team, method, channel)
        with self._lock:
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window(
                    figure[0], figure[1], [], share_at=self._clock(), team=team, method=method if channel is None else ""
                )
            return window

    def _keys(self, team: str, method: str, channel: str | None) -> list[_Window]:
        found = [self._window(team, method, None)]
        if channel is not None and method in self.per_channel:
            found.append(self._window(team, method, channel))
        return [w for w in found if w is not None]

    def _share(self, w: _Window, now: float) -> float:  # lock held
        return min(1.0, w.share + (now - w.share_at) * (1 - MIN_SHARE) / RECOVERY_S)

    def _cap(self, w: _Window, shared: bool = True) -> float:  # lock held
        share = self._share(w, self._clock()) if shared else 1.0
        # The instances writing to the workspace split what can wait (starts, promised finals, periodic
        # writes); a call that must happen (take: a stop, a final update) is held by the tier only.
        writers = self.board.writers(w.team) if shared and self.board is not None and w.team else 1
        return max(1.0, w.limit * self.headroom * share / (self.processes * writers))

    def _count(self, w: _Window, now: float) -> int:  # lock held; forgets calls out of the window
        old = bisect.bisect_right(w.times, now - w.length_s)
        if old:
            del w.times[:old]
        return len(w.times)

    def _observe_shared(self, w: _Window, now: float) -> None:  # lock held
        """Another instance's 429 (the shared pause board): pause and cut the share, once per pause."""
        if self.board is None or not w.method:
            return
        remaining, ends_at = self.board.remaining(w.team, w.method)
        if remaining <= 0 or ends_at <= w.shared_seen:
            return
        w.shared_seen = ends_at
        if w.paused_until <= now:
            w.share = max(MIN_SHARE, self._share(w, now) * CUT)
            w.share_at = now
        w.paused_until = max(w.paused_until, now + remaining)

    def _free(self, w: _Window, now: float, periodic: bool) -> bool:  # lock held
        self._observe_shared(w, now)
        cap = self._cap(w) * ((1 - RESERVE) if periodic else 1.0)
        used = self._count(w, now) + (w.owed if periodic else 0)  # periodic writes leave room for promised finals
        return now >= w.paused_until and used < max(1.0, cap)

    def _next_slot(self, w: _Window, now: float) -> float:  # lock held
        self._observe_shared(w, now)
        cap = int(self._cap(w, shared=False))
        count = self._count(w, now)
        slot = now if count < cap else w.times[count - cap] + w.length_s
        return max(slot, now, w.paused_until)
