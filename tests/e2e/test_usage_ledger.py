"""The usage ledger against the real Firestore emulator (and the in-process store, which must
behave the same): exact counters under concurrency, budgets, the UTC day, outages, the Home tab."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from teambot.core.settings import Settings
from teambot.usage.firestore import FirestoreUsageStore
from teambot.usage.home_tab import UNAVAILABLE, home_view
from teambot.usage.ledger import UsageLedger, until_midnight
from teambot.usage.prices import estimate_cost, price_table
from teambot.usage.store import MemoryUsageStore, team_day_id, team_month_id, user_day_id, user_month_id
from tests.harness import REPO, free_port


class Clock:
    """An injectable UTC clock."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def firestore_store(host: str, monkeypatch, timeout_s: float = 10.0) -> FirestoreUsageStore:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", host)  # read by the client library when it is created
    # A project of its own per test: the emulator keeps data per project, so tests can't see each other's.
    return FirestoreUsageStore(project=f"usage-{uuid.uuid4().hex[:12]}", timeout_s=timeout_s)


@pytest.fixture(params=["firestore", "memory"])
def store(request, monkeypatch):
    if request.param == "memory":
        return MemoryUsageStore()
    return firestore_store(request.getfixturevalue("firestore_emulator"), monkeypatch)


def records(out: str, message: str) -> list[dict]:
    found = []
    for line in out.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("message") == message:
            found.append(record)
    return found


NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_counters_exact_after_50_concurrent_answers_by_5_users(store, firestore_emulator, monkeypatch):
    # Two ledgers on one store stand for two instances; with Firestore, two clients as well.
    second = store if isinstance(store, MemoryUsageStore) else FirestoreUsageStore(project=store.project, timeout_s=10)
    ledgers = [UsageLedger(store, clock=Clock(NOON)), UsageLedger(second, clock=Clock(NOON))]
    users = [f"U{n}" for n in range(5)]
    answers = [(users[i % 5], 100 + i, 10 * i) for i in range(50)]  # (user, prompt, completion)
    start = threading.Barrier(50)
    futures, lock = [], threading.Lock()

    def answer(i, user, prompt, completion):
        start.wait(timeout=30)
        future = ledgers[i % 2].record("T1", user, "gpt-5-mini", prompt, completion)
        with lock:
            futures.append(future)

    threads = [threading.Thread(target=answer, args=(i, *a)) for i, a in enumerate(answers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(f.result(timeout=60) is True for f in futures) and len(futures) == 50
    assert all(ledger.backlog == 0 for ledger in ledgers)

    day, month = "2026-11-25", "2026-11"
    got = store.get(
        [team_day_id("T1", day), team_month_id("T1", month)]
        + [user_day_id("T1", u, day) for u in users]
        + [user_month_id("T1", u, month) for u in users]
    )
    for team_doc in (team_day_id("T1", day), team_month_id("T1", month)):
        totals = got[team_doc]
        assert (totals.prompt_tokens, totals.completion_tokens, totals.answers) == (
            sum(p for _, p, _ in answers),
            sum(c for _, _, c in answers),
            50,
        )
        assert totals.cost_usd == pytest.approx(sum(estimate_cost("gpt-5-mini", p, c, price_table()) for _, p, c in answers))
    for user in users:
        mine = [(p, c) for u, p, c in answers if u == user]
        for doc in (user_day_id("T1", user, day), user_month_id("T1", user, month)):
            assert (got[doc].prompt_tokens, got[doc].completion_tokens, got[doc].answers) == (
                sum(p for p, _ in mine),
                sum(c for _, c in mine),
                10,
            )
    ranked = store.month_users("T1", month)
    assert sorted(ranked) == users and all(t.answers == 10 for t in ranked.values())


def test_budget_refuses_once_the_day_total_has_reached_it(store):
    ledger = UsageLedger(store, user_budget=1000, team_budget=1500, clock=Clock(NOON))
    assert ledger.check("T1", "U1") is None
    ledger.record("T1", "U1", "gpt-5-mini", 600, 399).result(timeout=30)  # 999: one token left
    assert ledger.check("T1", "U1") is None
    ledger.record("T1", "U1", "gpt-5-mini", 0, 1).result(timeout=30)  # exactly 1000: reached
    refusal = ledger.check("T1", "U1")
    assert refusal and "1,000 tokens" in refusal and "midnight UTC" in refusal and "12 h 00 min" in refusal
    assert ledger.check("T1", "U2") is None  # another person: only the team budget applies
    ledger.record("T1", "U2", "gpt-5-mini", 250, 250).result(timeout=30)  # team: 1500
    team_refusal = ledger.check("T1", "U2")
    assert team_refusal and "workspace" in team_refusal and "1,500 tokens" in team_refusal
    assert ledger.check("T2", "U1") is None  # budgets are per workspace and per person


def test_utc_day_rollover_resets_the_budget_and_starts_new_counters(store):
    clock = Clock(datetime(2026, 11, 30, 23, 59, 30, tzinfo=UTC))
    ledger = UsageLedger(store, user_budget=100, clock=clock)
    ledger.record("T1", "U1", "gpt-5-mini", 80, 20).result(timeout=30)
    refusal = ledger.check("T1", "U1")
    assert refusal and "in 1 min" in refusal
    # Late evening in UTC+05:00 is still the same UTC day: still refused.
    clock.now = datetime(2026, 12, 1, 4, 59, 50, tzinfo=timezone(timedelta(hours=5)))
    assert ledger.check("T1", "U1")
    clock.now = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    assert ledger.check("T1", "U1") is None
    ledger.record("T1", "U1", "gpt-5-mini", 5, 5).result(timeout=30)
    summary = ledger.summary("T1", "U1")
    assert (summary.day, summary.month) == ("2026-12-01", "2026-12")
    assert summary.user_today.tokens == 10 and summary.user_month.tokens == 10  # a new month too
    assert summary.user_days[-2] == ("2026-11-30", summary.user_days[-2][1]) and summary.user_days[-2][1].tokens == 100


def test_no_budget_means_no_store_call_before_the_model(capsys):
    dead = FirestoreUsageStore(project="p", timeout_s=30)  # never contacted: creating it does no I/O
    ledger = UsageLedger(dead, clock=Clock(NOON))
    assert ledger.check("T1", "U1") is None
    assert dead._client is None  # the store was never asked (its client is made on first use), whatever the clock says
    assert records(capsys.readouterr().out, "usage_check_failed") == []


def test_firestore_down_fails_open_quickly_and_defers_the_recording(monkeypatch, capsys):
    dead = firestore_store(f"127.0.0.1:{free_port()}", monkeypatch, timeout_s=1.0)  # nothing listens there
    ledger = UsageLedger(dead, user_budget=10, team_budget=10, clock=Clock(NOON))
    started = time.monotonic()
    assert ledger.check("T1", "U1") is None  # fail open: the answer goes ahead
    assert time.monotonic() - started < 5  # bounded by the store timeout (1 s), generous for a loaded machine
    assert ledger.record("T1", "U1", "gpt-5-mini", 10, 10).result(timeout=10) is False
    assert ledger.backlog == 1
    assert ledger.summary("T1", "U1") is None
    assert home_view(None)["blocks"][-1]["text"]["text"] == UNAVAILABLE
    out = capsys.readouterr().out
    assert records(out, "usage_check_failed")[0]["team"] == "T1"
    assert records(out, "usage_record_deferred")[0]["backlog"] == 1
    assert records(out, "usage_read_failed")
    assert "sk-" not in out and "Bearer" not in out


class FlakyStore(MemoryUsageStore):
    """The in-process store behind a switch: down raises what a network store raises."""

    down = False

    def add(self, event):
        if self.down:
            raise ConnectionError("store unreachable")
        super().add(event)


def test_deferred_recordings_are_counted_later_and_a_full_backlog_is_skipped_with_a_log_line(capsys):
    store = FlakyStore()
    ledger = UsageLedger(store, max_backlog=3, clock=Clock(NOON))
    store.down = True
    for n in range(5):
        ledger.record("T1", "U1", "gpt-5-mini", 10, n).result(timeout=10)
    assert ledger.backlog == 3
    skipped = records(capsys.readouterr().out, "usage_record_skipped")
    assert [r["skipped"] for r in skipped] == [1, 1] and [r["tokens"] for r in skipped] == [13, 14]
    store.down = False
    assert ledger.record("T1", "U1", "gpt-5-mini", 1, 1).result(timeout=10) is True
    assert ledger.backlog == 0
    today = store.get([user_day_id("T1", "U1", "2026-11-25")])[user_day_id("T1", "U1", "2026-11-25")]
    assert (today.answers, today.tokens) == (4, 10 * 3 + (0 + 1 + 2) + 2)


def test_nothing_is_recorded_for_an_answer_without_tokens():
    store = MemoryUsageStore()
    ledger = UsageLedger(store, clock=Clock(NOON))
    assert ledger.record("T1", "U1", "gpt-5-mini", None, None) is None
    assert ledger.record("T1", "U1", "gpt-5-mini", 0, 0) is None
    assert ledger.summary("T1", "U1").user_month.answers == 0


def text_of(view: dict) -> str:
    return json.dumps(view, ensure_ascii=False)


def test_home_tab_shows_the_numbers(store):
    clock = Clock(NOON - timedelta(days=2))
    ledger = UsageLedger(store, user_budget=10_000, clock=clock)
    ledger.record("T1", "U1", "gpt-5-mini", 400, 100).result(timeout=30)  # two days ago: 500
    clock.now = NOON
    ledger.record("T1", "U1", "gpt-5-mini", 1000, 234).result(timeout=30)  # today: 1,234
    ledger.record("T1", "U2", "gpt-5-mini", 3000, 2000).result(timeout=30)  # U2 today: 5,000
    ledger.record("T2", "U9", "gpt-5-mini", 9999, 9999).result(timeout=30)  # another workspace

    summary = ledger.summary("T1", "U1", with_top_users=True)
    view = home_view(summary, is_admin=True)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    text = text_of(view)
    assert "1,234 tokens · 1 answer" in text  # user today
    assert "1,734 tokens · 2 answers" in text  # user this month
    assert "6,234 tokens · 2 answers" in text  # team today
    assert "6,734 tokens · 3 answers" in text  # team this month
    assert "12% used today" in text  # 1,234 of 10,000
    charts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section" and "```" in b.get("text", {}).get("text", "")]
    user_chart = charts[0].strip("`\n").splitlines()
    assert len(user_chart) == 14 and user_chart[-1].startswith("11-25 " + "█" * 20) and user_chart[-1].endswith("1,234")
    assert user_chart[-3].startswith("11-23 " + "█" * 8) and user_chart[-2].startswith("11-24  ")  # 500/1234 of 20
    top = next(b["text"]["text"] for b in view["blocks"] if "<@U" in b.get("text", {}).get("text", ""))
    assert top.splitlines()[0].startswith("1. <@U2>  5,000 tokens") and top.splitlines()[1].startswith("2. <@U1>  1,734")
    assert "U9" not in text

    plain = home_view(ledger.summary("T1", "U1"), is_admin=False)
    assert "Top users" not in text_of(plain) and "<@U2>" not in text_of(plain)


def test_prices_default_model_snapshots_and_overrides():
    table = price_table()
    assert estimate_cost("gpt-5-mini", 1_000_000, 1_000_000, table) == pytest.approx(2.25)
    assert estimate_cost("gpt-5-mini-2025-08-07", 1_000_000, 0, table) == pytest.approx(0.25)
    assert estimate_cost("unknown-model", 1000, 1000, table) == 0.0
    settings = Settings.from_env(
        {
            "MODEL_PRICES": '{"gpt-x": {"input": 1, "output": 4}}',
            "USAGE_STORE": "memory",
            "DAILY_TOKEN_BUDGET_PER_USER": "5000",
            "ADMIN_USER_IDS": "U1, U2",
        }
    )
    ledger = UsageLedger.from_settings(settings)
    assert isinstance(ledger.store, MemoryUsageStore) and ledger.user_budget == 5000 and ledger.team_budget == 0
    assert estimate_cost("gpt-x", 500_000, 500_000, ledger.prices) == pytest.approx(2.5)
    assert estimate_cost("gpt-5-mini", 1_000_000, 0, ledger.prices) == pytest.approx(0.25)  # default kept
    assert settings.admin_user_ids == {"U1", "U2"}
    for bad in ({"MODEL_PRICES": '{"m": 3}'}, {"USAGE_STORE": "redis"}, {"DAILY_TOKEN_BUDGET_PER_TEAM": "-1"}):
        with pytest.raises(ValueError):
            Settings.from_env(bad)
    firestore = UsageLedger.from_settings(Settings.from_env({"USAGE_STORE": "firestore", "FIRESTORE_DATABASE": "bot-usage"}))
    assert isinstance(firestore.store, FirestoreUsageStore) and firestore.store.database == "bot-usage"


def test_until_midnight():
    assert until_midnight(datetime(2026, 1, 1, 0, 0, tzinfo=UTC)) == "24 h 00 min"
    assert until_midnight(datetime(2026, 1, 1, 23, 15, tzinfo=UTC)) == "45 min"
    assert until_midnight(datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC)) == "1 min"


def test_ledger_and_home_tab_do_not_import_grpc_or_firestore():
    code = (
        "import sys; import teambot.usage.ledger, teambot.usage.home_tab, teambot.usage.firestore; "
        "heavy = [m for m in sys.modules if m.startswith(('google.cloud.firestore', 'grpc'))]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO / "function", check=True, timeout=60)
