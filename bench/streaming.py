"""Streaming figures: first model token -> first visible text in Slack, Slack calls per answer
(native and update mode), writes per message per second, and a 429 storm."""

from __future__ import annotations

import statistics
import threading
import time
import urllib.request
from contextlib import contextmanager

from bench.common import Fakes, Plan, post, signed_dm, summary
from tests.harness import wait_for

WRITES = ("chat.startStream", "chat.appendStream", "chat.postMessage", "chat.update")
STORM_METHODS = ("chat.startStream", "chat.appendStream", "chat.stopStream", "chat.postMessage", "chat.update")


def _done(slack, channel, ts):
    def check():
        msgs = slack.bot_messages(channel, ts)
        if not msgs or msgs[-1].get("streaming"):
            return None
        state = ((msgs[-1].get("metadata") or {}).get("event_payload") or {}).get("state")
        return msgs if state not in (None, "streaming", "continued") else None

    return check


def ask(fakes, bot, channel: str, text: str, timeout: float = 60) -> tuple[str, float, list[dict]]:
    ts = fakes.slack.add_message(channel, text)
    body, headers = signed_dm(text, ts, channel=channel)
    start = time.monotonic()
    status, _ = post(bot.port, body, headers)
    assert status == 200
    msgs = wait_for(_done(fakes.slack, channel, ts), timeout=timeout, interval=0.005)
    return ts, time.monotonic() - start, msgs


def ask_many(fakes, bot, questions: list[tuple[str, str]], timeout: float = 120) -> list:
    """Ask every (channel, text) at once; results in order, None for an answer that never came."""
    results: list = [None] * len(questions)

    def one(i: int, channel: str, text: str) -> None:
        results[i] = ask(fakes, bot, channel, text, timeout=timeout)

    threads = [threading.Thread(target=one, args=(i, c, t)) for i, (c, t) in enumerate(questions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 30)
    return results


@contextmanager
def warm_bot(mode: str = "native"):
    """Fakes + the function, warmed by one answer (auth.test and imports are once per process).
    In update mode the fake Slack refuses native streaming for the channel type."""
    fakes = Fakes()
    if mode == "update":
        fakes.slack.native_refusal = "channel_type_not_supported"
    bot = fakes.start_bot()
    try:
        ask(fakes, bot, "Dwarm", "warm up")
        yield fakes, bot
    finally:
        bot.stop()
        fakes.stop()


def fake_round_trip_ms(fakes) -> float:
    started = time.monotonic()
    request = urllib.request.Request(fakes.slack.url + "/api/auth.test", data=b"token=xoxb-test")
    urllib.request.urlopen(request, timeout=5).read()
    return (time.monotonic() - started) * 1000


def first_visible(k: int = 10) -> dict:
    out = {}
    for mode in ("native", "update"):
        lags, round_trips = [], []
        with warm_bot(mode) as (fakes, bot):
            for i in range(k):
                fakes.model.default_plan = Plan(tokens=[f" w{j}" for j in range(30)], delay_s=0.02)
                calls_before = len(fakes.slack.calls)
                requests_before = len(fakes.model.requests)
                ask(fakes, bot, f"D{i}", f"question {i}")
                seen = fakes.model.requests[requests_before]
                first_write = next(
                    c
                    for c in fakes.slack.calls[calls_before:]
                    if c["method"] in WRITES and c.get("ok") and c["text_len"] and not c["placeholder"]
                )
                lags.append((first_write["time"] - seen.first_token_at) * 1000)
                round_trips.append(fake_round_trip_ms(fakes))
        out[mode] = {"lag_ms": summary(lags), "fake_round_trip_ms": statistics.median(round_trips)}
    return out


def calls_per_answer(tokens: int = 400, delay_s: float = 0.02) -> dict:
    out = {}
    for mode in ("native", "update"):
        with warm_bot(mode) as (fakes, bot):
            fakes.model.default_plan = Plan(tokens=[f" w{j}" for j in range(tokens)], delay_s=delay_s)
            before = len(fakes.slack.calls)
            _, seconds, msgs = ask(fakes, bot, "D1", "a 400-token answer please")
            calls = fakes.slack.calls[before:]
            writes = sorted(msgs[0].get("updates") or [])
            max_in_1s = max(sum(1 for t in writes if w <= t < w + 1.0) for w in writes) if writes else 0
            correct = "".join(m["text"] for m in msgs) == fakes.model.default_plan.text
        out[mode] = {
            "slack_calls": len(calls),
            "by_method": _count(calls),
            "answer_s": seconds,
            "max_writes_in_any_1s": max_in_1s,
            "correct": correct,
        }
    return out


def _count(calls):
    counts = {}
    for c in calls:
        counts[c["method"]] = counts.get(c["method"], 0) + 1
    return counts


def echo_answers(fakes, bot, n: int, tokens: int, delay_s: float, tag: str) -> tuple[list, int]:
    """n conversations at once; the model echoes each question in `tokens` tokens. Returns the
    results and how many answers arrived complete and exactly right."""
    fakes.model.responder = lambda body: Plan(
        tokens=[f" {body['messages'][-1]['content']}:{j}" for j in range(tokens)], delay_s=delay_s
    )
    results = ask_many(fakes, bot, [(f"D{i}", f"{tag}{i}") for i in range(n)])
    expected = ["".join(f" {tag}{i}:{j}" for j in range(tokens)) for i in range(n)]
    correct = sum(1 for r, want in zip(results, expected) if r and "".join(m["text"] for m in r[2]) == want)
    return results, correct


def storm(n: int = 10, tokens: int = 100, delay_s: float = 0.02) -> dict:
    out = {}
    for label, ratio in (("baseline", 0.0), ("storm", 0.3)):
        with warm_bot() as (fakes, bot):
            fakes.slack.rate_limit = {m: ratio for m in STORM_METHODS}
            results, correct = echo_answers(fakes, bot, n, tokens, delay_s, "q")
            complete = [r for r in results if r is not None]
            out[label] = {
                "answers": n,
                "completed": len(complete),
                "correct": correct,
                "mean_s": statistics.fmean(r[1] for r in complete) if complete else None,
                "max_s": max(r[1] for r in complete) if complete else None,
                "429s": sum(1 for c in fakes.slack.calls if c["status"] == 429),
            }
    return out
