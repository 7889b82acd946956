"""tests.harness.wait_for and settle: their times measure a stall or a quiet spell, not a slow machine."""

import threading
import time

import pytest

from tests.fakes.server import ACTIVITY
from tests.harness import settle, wait_for


def test_a_wait_goes_on_past_its_timeout_while_the_fakes_make_progress():
    done = threading.Event()

    def busy():  # a request every 0.1 s for 0.6 s, then the condition holds
        for _ in range(6):
            time.sleep(0.1)
            ACTIVITY.handled()
        done.set()
        ACTIVITY.handled()

    threading.Thread(target=busy, daemon=True).start()
    started = time.monotonic()
    assert wait_for(done.is_set, timeout=0.3)  # 0.6 s in all, twice the timeout
    assert 0.5 < time.monotonic() - started < 2.0


def test_a_wait_fails_after_its_timeout_without_progress():
    started = time.monotonic()
    with pytest.raises(AssertionError, match="no progress for 0.2s"):
        wait_for(lambda: False, timeout=0.2)
    assert 0.2 <= time.monotonic() - started < 1.0


def chatter() -> threading.Event:
    """Fake requests every 20 ms until the returned event is set."""
    stop = threading.Event()

    def run():
        while not stop.is_set():
            ACTIVITY.handled()
            time.sleep(0.02)

    threading.Thread(target=run, daemon=True).start()
    return stop


def test_endless_progress_is_still_capped():
    stop = chatter()
    try:
        with pytest.raises(AssertionError, match="not met in"):
            wait_for(lambda: False, timeout=0.2, cap=0.5)
    finally:
        stop.set()


def test_settle_returns_once_nothing_happened_for_its_quiet_time():
    started = time.monotonic()
    settle(quiet=0.2)
    assert 0.2 <= time.monotonic() - started < 1.0


def test_settle_waits_while_the_fakes_keep_busy():
    def busy():  # a request every 0.1 s for 0.6 s: each one restarts the quiet time
        for _ in range(6):
            time.sleep(0.1)
            ACTIVITY.handled()

    threading.Thread(target=busy, daemon=True).start()
    started = time.monotonic()
    settle(quiet=0.3)
    assert time.monotonic() - started >= 0.85  # the last request at ~0.6 s, then 0.3 s of quiet


def test_settle_on_a_system_that_never_goes_quiet_fails():
    stop = chatter()
    try:
        with pytest.raises(AssertionError, match="never quiet"):
            settle(quiet=0.2, cap=0.5)
    finally:
        stop.set()
