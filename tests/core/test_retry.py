"""The one backoff rule (core/retry.py): doubling from the base, capped, jittered."""

from __future__ import annotations

import threading
import time

import pytest

from core.retry import Backoff, Jitter, backoff_delay


def _top(low: float, high: float) -> float:
    return high


def _bottom(low: float, high: float) -> float:
    return low


@pytest.mark.parametrize(
    ("attempt", "expected"), [(0, 0.5), (1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 20.0)]
)
def test_delay_doubles_from_the_base_up_to_the_cap(attempt: int, expected: float) -> None:
    delay = backoff_delay(attempt, base=0.5, cap=20.0, jitter=Jitter.NONE)
    assert delay == expected


def test_full_jitter_spans_zero_to_the_delay() -> None:
    assert backoff_delay(3, base=1.0, cap=60.0, uniform=_bottom) == 0
    assert backoff_delay(3, base=1.0, cap=60.0, uniform=_top) == 4.0
    samples = [backoff_delay(3, base=1.0, cap=60.0) for _ in range(500)]
    assert all(0 <= s <= 4.0 for s in samples)
    assert min(samples) < 1.0 and max(samples) > 3.0  # spread, not a constant


def test_equal_jitter_never_goes_below_half_the_delay() -> None:
    assert backoff_delay(3, base=1.0, cap=60.0, jitter=Jitter.EQUAL, uniform=_bottom) == 2.0
    assert backoff_delay(3, base=1.0, cap=60.0, jitter=Jitter.EQUAL, uniform=_top) == 4.0
    samples = [backoff_delay(10, base=1.0, cap=8.0, jitter=Jitter.EQUAL) for _ in range(500)]
    assert all(4.0 <= s <= 8.0 for s in samples)


def test_backoff_counts_failures_in_a_row_and_resets_on_success() -> None:
    backoff = Backoff(0.05, 0.3, Jitter.NONE)
    assert [backoff.next_delay() for _ in range(5)] == [0.05, 0.1, 0.2, 0.3, 0.3]
    assert backoff.failures == 5
    backoff.reset()
    assert backoff.next_delay() == 0.05


def test_wait_returns_as_soon_as_the_stop_event_is_set() -> None:
    backoff = Backoff(30.0, 30.0, Jitter.NONE)
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert backoff.wait(stop) is True
    assert time.monotonic() - started < 5


def test_wait_sleeps_the_delay_when_not_stopped() -> None:
    backoff = Backoff(0.1, 1.0, Jitter.NONE)
    started = time.monotonic()
    assert backoff.wait(threading.Event()) is False
    assert time.monotonic() - started >= 0.1


@pytest.mark.parametrize("jitter", list(Jitter))
def test_delay_stays_at_the_cap_after_hours_of_failures(jitter: Jitter) -> None:
    # 2**1024 does not convert to a float: a loop retrying every 30 s reaches that
    # attempt after about eight and a half hours down.
    delay = backoff_delay(5000, base=0.5, cap=30.0, jitter=jitter, uniform=_top)
    assert delay == 30.0


def test_the_reconnect_backoff_survives_a_long_outage() -> None:
    from core.exchange.watchdog import _backoff

    assert 15.0 <= _backoff(0.5, 30.0, 5000) <= 30.0


def test_an_accounts_sync_penalty_survives_a_long_outage() -> None:
    from trade_sync.context import AccountBackoff

    penalties = AccountBackoff(base=5.0, cap=600.0)
    delays = [penalties.failed("acct", "down") for _ in range(1100)]
    assert all(300.0 <= d <= 600.0 for d in delays[-100:])
