"""The per-token window: counts only allowed requests, frees up as hits age out, and
keeps memory bounded whatever tokens a caller invents."""

from __future__ import annotations

import pytest

from api.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_window_slides_and_refusals_do_not_count() -> None:
    clock = Clock()
    limiter = RateLimiter(2, 60, clock=clock)
    assert limiter.allow(b"a") == (True, 0.0)
    clock.now += 10
    assert limiter.allow(b"a") == (True, 0.0)
    assert limiter.allow(b"a") == (False, 50.0)  # the first hit ages out in 50 s
    clock.now += 49
    assert limiter.allow(b"a")[0] is False
    assert limiter.allow(b"b") == (True, 0.0)  # per key
    clock.now += 1
    assert limiter.allow(b"a") == (True, 0.0)


def test_memory_stays_bounded_under_invented_tokens() -> None:
    clock = Clock()
    limiter = RateLimiter(5, 60, max_keys=100, clock=clock)
    for i in range(10_000):
        limiter.allow(i.to_bytes(4, "big"))
        clock.now += 0.001
    assert len(limiter._hits) <= 100


@pytest.mark.parametrize(("limit", "window"), [(0, 60), (1, 0)])
def test_nonsense_settings_are_refused(limit, window) -> None:
    with pytest.raises(ValueError):
        RateLimiter(limit, window)
