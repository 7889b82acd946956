"""UsageLedger: budgets before the model is called, counting after the answer, reads for the Home tab.

Promises (README "Usage and budgets"):
- Nothing here runs on the ack path. The budget check is the only call before the model, and it
  does no I/O at all when no budget is set.
- Budgets count prompt + completion tokens of the current UTC day; a question is refused once the
  day's total has *reached* the budget. Answers already in flight are not counted until they end,
  so concurrent answers of one user may overshoot by at most those answers.
- The store failing never blocks an answer: the check fails open (one warning line); a failed
  recording is kept in memory (bounded) and retried with the next recording, or dropped with a
  warning line when the backlog is full. Every store call is bounded by the store's timeout.
- Recording runs on the ledger's own small thread pool, after the answer's last write: the caller
  gets a Future and may wait for it (on Cloud Run, CPU is only guaranteed while a request is open).

Why one module of ~260 lines: the budget check, the recording with its retry backlog and the Home
tab's reads share one store, one thread pool and one cache of today's totals; split apart, each
would reach into the others' state.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from teambot.core import logs
from teambot.usage.prices import estimate_cost, price_table
from teambot.usage.store import (
    MemoryUsageStore,
    Totals,
    UsageEvent,
    UsageStore,
    team_day_id,
    team_month_id,
    user_day_id,
    user_month_id,
)

MAX_BACKLOG = 1000  # recordings kept for a retry while the store is down (~100 bytes each)
CHART_DAYS = 14


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class UsageSummary:
    """What the Home tab shows. Day lists run oldest -> today."""

    day: str
    month: str
    user_today: Totals
    user_month: Totals
    team_today: Totals
    team_month: Totals
    user_days: list[tuple[str, Totals]]
    team_days: list[tuple[str, Totals]]
    top_users: list[tuple[str, Totals]] | None  # None unless asked for (admins)
    user_budget: int = 0
    team_budget: int = 0


def until_midnight(now: datetime) -> str:
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    minutes = max(1, int((midnight - now).total_seconds() // 60))
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


class UsageLedger:
    def __init__(
        self,
        store: UsageStore,
        *,
        user_budget: int = 0,
        team_budget: int = 0,
        prices: dict[str, tuple[float, float]] | None = None,
        clock: Callable[[], datetime] = utc_now,
        max_backlog: int = MAX_BACKLOG,
    ):
        self.store = store
        self.user_budget = user_budget
        self.team_budget = team_budget
        self.prices = price_table(prices)
        self.clock = clock
        self._backlog: deque[UsageEvent] = deque()
        self._max_backlog = max_backlog
        self._lock = threading.Lock()
        self._inflight: set[Future] = set()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="usage")

    @classmethod
    def from_settings(cls, settings, **kwargs) -> "UsageLedger":
        if settings.usage_store == "firestore":
            from teambot.usage.firestore import FirestoreUsageStore

            store = FirestoreUsageStore(database=settings.firestore_database)
        else:
            store = MemoryUsageStore()
        return cls(
            store,
            user_budget=settings.daily_token_budget_per_user,
            team_budget=settings.daily_token_budget_per_team,
            prices=settings.model_prices,
            **kwargs,
        )

    def _now(self) -> datetime:
        return self.clock().astimezone(UTC)  # days are UTC days, whatever the clock's zone

    def warm(self) -> None:
        """Start the store's client in the background (a no-op for the in-process store), so a
        new instance's first budget check doesn't pay for importing and starting it."""
        if hasattr(self.store, "warm"):
            self._executor.submit(self._warm)

    def _warm(self) -> None:
        try:
            self.store.warm()
        except Exception as exc:
            logs.failed("usage_store_start_failed", exc)

    # -- budgets -------------------------------------------------------------------------------
    def check(self, team: str, user: str) -> str | None:
        """None = go ahead; else the short message for the user. Never raises."""
        if not (self.user_budget or self.team_budget):
            return None
        now = self._now()
        day = now.strftime("%Y-%m-%d")
        user_id, team_id = user_day_id(team, user, day), team_day_id(team, day)
        try:
            totals = self.store.get([user_id, team_id])
        except Exception as exc:  # fail open: an outage must not block answers
            logs.failed("usage_check_failed", exc, team=team, user=user)
            return None
        resets = f"It resets at midnight UTC (in {until_midnight(now)})."
        if self.user_budget and totals[user_id].tokens >= self.user_budget:
            return f"You've reached today's usage limit ({self.user_budget:,} tokens per person per day). {resets}"
        if self.team_budget and totals[team_id].tokens >= self.team_budget:
            return f"This workspace has reached today's usage limit ({self.team_budget:,} tokens per day). {resets}"
        return None

    def check_soon(self, team: str, user: str) -> Future:
        """The check on the ledger's pool, so the caller can overlap it with other work."""
        if not (self.user_budget or self.team_budget):
            done: Future = Future()
            done.set_result(None)
            return done
        return self._executor.submit(self.check, team, user)

    def outcome(self, pending: Future, timeout_s: float, **ids) -> object:
        """`pending.result()`, or None (with a warning line) if it takes longer than `timeout_s`:
        the store calls are bounded already; this bounds the thread hop too."""
        try:
            return pending.result(timeout=timeout_s)
        except Exception as exc:
            logs.warning("usage_wait_timeout", error=type(exc).__name__, **ids)
            return None

    # -- recording -----------------------------------------------------------------------------
    def record(
        self, team: str, user: str, model: str, prompt_tokens: int | None, completion_tokens: int | None, *, tool_calls: int = 0
    ) -> Future | None:
        """Queue one answer's usage; returns at once (None when there is nothing to count).
        `tool_calls`: the hosted tool calls (web search, MCP) the answer made."""
        prompt, completion = int(prompt_tokens or 0), int(completion_tokens or 0)
        if not (prompt or completion or tool_calls):
            return None
        event = UsageEvent(
            team,
            user,
            self._now(),
            prompt,
            completion,
            estimate_cost(model, prompt, completion, self.prices),
            int(tool_calls or 0),
        )
        future = self._executor.submit(self._write, event)
        with self._lock:
            self._inflight.add(future)
        future.add_done_callback(self._settled)
        return future

    def _settled(self, future: Future) -> None:
        with self._lock:
            self._inflight.discard(future)

    def _write(self, event: UsageEvent) -> bool:
        with self._lock:
            todo = [*self._backlog, event]
            self._backlog.clear()
        for done, item in enumerate(todo):
            try:
                self.store.add(item)
            except Exception as exc:
                self._defer(todo[done:], exc)
                return False
        return True

    def _defer(self, events: list[UsageEvent], exc: Exception) -> None:
        with self._lock:
            room = self._max_backlog - len(self._backlog)
            kept, dropped = events[: max(room, 0)], events[max(room, 0) :]
            self._backlog.extend(kept)
            backlog = len(self._backlog)
        logs.warning("usage_record_deferred", error=type(exc).__name__, deferred=len(kept), backlog=backlog)
        if dropped:
            logs.warning(
                "usage_record_skipped",
                error=type(exc).__name__,
                skipped=len(dropped),
                tokens=sum(e.prompt_tokens + e.completion_tokens for e in dropped),
            )

    @property
    def backlog(self) -> int:
        with self._lock:
            return len(self._backlog)

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait for the recordings queued so far (tests, benchmarks, shutdown)."""
        with self._lock:
            inflight = list(self._inflight)
        wait(inflight, timeout=timeout_s)

    # -- reads (Home tab) ----------------------------------------------------------------------
    def summary(
        self, team: str, user: str, *, with_top_users: bool = False, days: int = CHART_DAYS, top: int = 10
    ) -> UsageSummary | None:
        """None when the store can't be read (the Home tab then says so)."""
        now = self._now()
        day_names = [(now - timedelta(days=n)).strftime("%Y-%m-%d") for n in range(days - 1, -1, -1)]
        month = now.strftime("%Y-%m")
        ids = (
            [user_day_id(team, user, d) for d in day_names]
            + [team_day_id(team, d) for d in day_names]
            + [user_month_id(team, user, month), team_month_id(team, month)]
        )
        try:
            got = self.store.get(ids)
            ranked = None
            if with_top_users:
                users = self.store.month_users(team, month)
                ranked = sorted(users.items(), key=lambda kv: (-kv[1].tokens, kv[0]))[:top]
        except Exception as exc:
            logs.failed("usage_read_failed", exc, team=team, user=user)
            return None
        user_days = [(d, got[user_day_id(team, user, d)]) for d in day_names]
        team_days = [(d, got[team_day_id(team, d)]) for d in day_names]
        return UsageSummary(
            day=day_names[-1],
            month=month,
            user_today=user_days[-1][1],
            team_today=team_days[-1][1],
            user_month=got[user_month_id(team, user, month)],
            team_month=got[team_month_id(team, month)],
            user_days=user_days,
            team_days=team_days,
            top_users=ranked,
            user_budget=self.user_budget,
            team_budget=self.team_budget,
        )
