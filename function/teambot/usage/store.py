"""Where usage counters live: the document layout, the store interface, and the in-process store.

One answer adds to four counter documents, all in one collection (one TTL policy covers them):

  user_day    d_<YYYY-MM-DD>_<team>_<user>     the user's budget and the Home tab's bars
  team_day    d_<YYYY-MM-DD>_<team>            the workspace's budget and bars
  user_month  m_<YYYY-MM>_<team>_<user>        "this month", and the admins' top users
  team_month  m_<YYYY-MM>_<team>

Each carries prompt_tokens, completion_tokens, answers, cost_usd (increments), the ids and the
day/month it counts (plain fields), and `expires_at`, the field the TTL policy deletes it by
(infra/usage_store.py). Slack ids are [A-Z0-9] only, so "_" can't collide inside an id.
`MemoryUsageStore` keeps the same documents in a dict: same behaviour, one process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

COLLECTION = "usage"
EXPIRY_FIELD = "expires_at"
RETENTION_DAYS = 100  # > the 31 days "this month" needs, and a quarter of history for the chart
COUNTERS = ("prompt_tokens", "completion_tokens", "answers", "cost_usd", "tool_calls")


@dataclass(frozen=True)
class Totals:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    answers: int = 0
    cost_usd: float = 0.0
    tool_calls: int = 0  # hosted tool calls (web search, MCP ...) of the answers counted

    @property
    def tokens(self) -> int:
        """What budgets count: prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def of(cls, doc: dict | None) -> "Totals":
        doc = doc or {}
        return cls(
            int(doc.get("prompt_tokens") or 0),
            int(doc.get("completion_tokens") or 0),
            int(doc.get("answers") or 0),
            float(doc.get("cost_usd") or 0.0),
            int(doc.get("tool_calls") or 0),
        )


@dataclass(frozen=True)
class UsageEvent:
    """One answer's usage, stamped with the UTC day it counts for."""

    team: str
    user: str
    at: datetime  # timezone-aware, UTC
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    tool_calls: int = 0  # hosted tool calls the answer made (web_search, mcp ...)

    @property
    def day(self) -> str:
        return self.at.strftime("%Y-%m-%d")

    @property
    def month(self) -> str:
        return self.at.strftime("%Y-%m")

    def documents(self) -> dict[str, dict]:
        """doc id -> plain fields (set as-is) for the four counters this event adds to."""
        expires = self.at + timedelta(days=RETENTION_DAYS)
        base = {"team": self.team, "month": self.month, EXPIRY_FIELD: expires}
        return {
            user_day_id(self.team, self.user, self.day): {**base, "kind": "user_day", "user": self.user, "day": self.day},
            team_day_id(self.team, self.day): {**base, "kind": "team_day", "day": self.day},
            user_month_id(self.team, self.user, self.month): {**base, "kind": "user_month", "user": self.user},
            team_month_id(self.team, self.month): {**base, "kind": "team_month"},
        }

    def increments(self) -> dict[str, float]:
        counts = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "answers": 1,
            "cost_usd": self.cost_usd,
        }
        if self.tool_calls:
            counts["tool_calls"] = self.tool_calls
        return counts


def user_day_id(team: str, user: str, day: str) -> str:
    return f"d_{day}_{team}_{user}"


def team_day_id(team: str, day: str) -> str:
    return f"d_{day}_{team}"


def user_month_id(team: str, user: str, month: str) -> str:
    return f"m_{month}_{team}_{user}"


def team_month_id(team: str, month: str) -> str:
    return f"m_{month}_{team}"


class UsageStore(Protocol):
    """Every method may raise (a network store); `UsageLedger` bounds and absorbs that."""

    def add(self, event: UsageEvent) -> None:
        """Atomically add the event to its four counters (all or nothing)."""

    def get(self, doc_ids: list[str]) -> dict[str, Totals]:
        """Counters by id; missing documents are zero."""

    def month_users(self, team: str, month: str) -> dict[str, Totals]:
        """Every user of the team with usage in the month."""


class MemoryUsageStore:
    """The local default (USAGE_STORE=memory): the same documents, in this process only."""

    def __init__(self):
        self._docs: dict[str, dict] = {}
        self._lock = threading.Lock()

    def add(self, event: UsageEvent) -> None:
        with self._lock:
            for doc_id, fields in event.documents().items():
                doc = self._docs.setdefault(doc_id, {})
                doc.update(fields)
                for name, amount in event.increments().items():
                    doc[name] = doc.get(name, 0) + amount

    def get(self, doc_ids: list[str]) -> dict[str, Totals]:
        with self._lock:
            return {doc_id: Totals.of(self._docs.get(doc_id)) for doc_id in doc_ids}

    def month_users(self, team: str, month: str) -> dict[str, Totals]:
        with self._lock:
            return {
                doc["user"]: Totals.of(doc)
                for doc in self._docs.values()
                if doc.get("kind") == "user_month" and doc.get("team") == team and doc.get("month") == month
            }
