"""The simulated clock: where simulated time *should* be; the market catches up to it."""

from __future__ import annotations

import time


class SimClock:
    """``speed`` None: manual (moves only when told); 0: as fast as possible; > 0: x real time."""

    def __init__(self, start_ms: int, speed: float | None) -> None:
        self.speed = speed
        self._sim = start_ms
        self._real = time.monotonic()

    @property
    def live(self) -> bool:
        return bool(self.speed)

    def target(self) -> int:
        if not self.speed:
            return self._sim
        return self._sim + int((time.monotonic() - self._real) * 1000 * self.speed)

    def set(self, ms: int) -> None:
        self._sim = ms
        self._real = time.monotonic()

    def set_speed(self, speed: float | None) -> None:
        now = self.target()
        self.speed = speed
        self.set(now)
