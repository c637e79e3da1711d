"""Exponential backoff with a cap and jitter: the one rule every retry loop uses.

The delay before retry ``n`` (1 = the first) is ``base * 2**(n-1)``, never more than
``cap``, then jittered so that many clients failing together (every bot when Redis
restarts, every socket when the exchange drops them) do not come back in lockstep:

* ``FULL``: uniform in ``[0, delay]`` — the widest spread, the default for new loops;
* ``EQUAL``: uniform in ``[delay/2, delay]`` — never (almost) zero, for reconnects where
  an immediate retry would only be refused again;
* ``NONE``: exactly ``delay`` — for a single client whose retries nobody else shares.

:class:`Backoff` counts the failures in a row and, with :meth:`Backoff.wait`, sleeps on a
stop event so a shutdown never waits out a long delay.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

_MAX_EXPONENT = 62


class Jitter(Enum):
    FULL = "full"
    EQUAL = "equal"
    NONE = "none"


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    jitter: Jitter = Jitter.FULL,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float:
    """Seconds to wait before retry number ``attempt`` (counted from 1; lower counts as 1)."""
    # The exponent is bounded: a loop that has failed for hours reaches attempt 1,025,
    # and 2**1024 no longer converts to a float (OverflowError). 2**62 times any sensible
    # base is far beyond any cap.
    exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
    ceiling = min(cap, math.ldexp(base, exponent))  # base * 2**exponent, as a float
    if jitter is Jitter.FULL:
        return uniform(0, ceiling)
    if jitter is Jitter.EQUAL:
        return ceiling / 2 + uniform(0, ceiling / 2)
    return ceiling


@dataclass
class Backoff:
    """The failures in a row of one retry loop and the delay each one earns."""

    base: float
    cap: float
    jitter: Jitter = Jitter.FULL
    failures: int = field(default=0, init=False)

    def next_delay(self) -> float:
        """Count a failure; the delay before the next try."""
        self.failures += 1
        return backoff_delay(self.failures, base=self.base, cap=self.cap, jitter=self.jitter)

    def wait(self, stop: threading.Event) -> bool:
        """Count a failure and sleep its delay, or less if ``stop`` is set meanwhile.
        Returns whether the loop should stop."""
        return stop.wait(self.next_delay())

    def reset(self) -> None:
        """A success: the next failure waits ``base`` again."""
        self.failures = 0
