"""A per-token sliding-window rate limit, in memory (one API process)."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """At most ``limit`` requests per ``window`` seconds per key.

    Keys are token digests, checked before the database is asked, so a flood with one
    bad token costs no queries. Idle keys are dropped, and at most ``max_keys`` are
    kept, so random tokens cannot grow memory without bound."""

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("rate limit: limit >= 1 and window > 0")
        self.limit, self.window, self._max_keys, self._clock = limit, window, max_keys, clock
        self._hits: dict[bytes, deque[float]] = {}

    def allow(self, key: bytes) -> tuple[bool, float]:
        """``(allowed, retry_after_seconds)``; a refused request is not counted."""
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self._max_keys:
                self._prune(now)
            hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False, max(0.0, hits[0] + self.window - now)
        hits.append(now)
        return True, 0.0

    def _prune(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[key]
        while len(self._hits) >= self._max_keys:  # still full of live keys: drop the oldest
            del self._hits[next(iter(self._hits))]
