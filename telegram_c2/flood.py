"""Telegram's flood limits, kept for every Bot API call the C2 makes.

Telegram allows a bot about 30 messages per second overall and 20 per minute in one
group (https://core.telegram.org/bots/faq, "My bot is hitting limits"); beyond that it
answers 429 and may hold the bot back for longer. Alerts, digests, command replies and
edits all go through PTB's ``ExtBot``, which hands every request to the Application's
rate limiter: this one. A request that names a chat waits, before it is sent, until the
overall window has room, and for a group (a negative chat id, or an ``@name``) until
that group's window has room too. ``getUpdates`` is never limited (PTB's rule).

A request counts in its windows from when it is sent until ``period`` after it
*finished* (while in flight it always counts). So however long each request takes on
the wire, no ``period`` ever sees more than ``limit`` of them arrive at Telegram.

PTB's own ``AIORateLimiter`` needs the extra ``aiolimiter`` package and uses leaky
buckets that let a burst through; this one is a small sliding window, exact for our
volumes (tens of messages a minute). A 429 is not retried here: the caller decides (the
alert pump backs off, see ``telegram_c2/alerts.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import BaseRateLimiter

#: Group windows kept at most; idle ones are dropped beyond this.
MAX_GROUPS = 512


class _Window:
    """The requests of the last ``period`` seconds (in flight: ``inf``, never expiring)."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self.slots: list[list[float]] = []

    def wait(self, now: float) -> float:
        """Seconds until one more request fits (0: now)."""
        self.slots = [s for s in self.slots if s[0] > now - self.period]
        if len(self.slots) < self.limit:
            return 0.0
        oldest = min(s[0] for s in self.slots)
        # All in flight: check again shortly (a request finishing frees nothing sooner).
        return 0.05 if math.isinf(oldest) else oldest + self.period - now

    def take(self) -> list[float]:
        slot = [math.inf]
        self.slots.append(slot)
        return slot


class FloodLimiter(BaseRateLimiter[int]):
    def __init__(
        self,
        overall: tuple[int, float] = (30, 1.0),
        per_group: tuple[int, float] = (20, 60.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._overall = _Window(*overall)
        self._per_group = per_group
        self._groups: dict[int | str, _Window] = {}
        self._clock = clock

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    def _group(self, chat_id: object) -> _Window | None:
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(chat_id)  # type: ignore[call-overload]
        if not (isinstance(chat_id, int) and chat_id < 0) and not isinstance(chat_id, str):
            return None  # a private chat: only the overall limit
        if chat_id not in self._groups and len(self._groups) >= MAX_GROUPS:
            now = self._clock()
            for key in [k for k, w in self._groups.items() if w.wait(now) == 0 and not w.slots]:
                del self._groups[key]
        return self._groups.setdefault(chat_id, _Window(*self._per_group))

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id = data.get("chat_id")
        if chat_id is None:
            return await callback(*args, **kwargs)
        windows = [self._overall]
        group = self._group(chat_id)
        if group is not None:
            windows.append(group)
        while True:
            # No await between the check and the take: one event loop, so it is atomic.
            delay = max(w.wait(self._clock()) for w in windows)
            if delay <= 0:
                break
            await asyncio.sleep(delay)
        slots = [w.take() for w in windows]
        try:
            return await callback(*args, **kwargs)
        finally:
            done = self._clock()
            for slot in slots:
                slot[0] = done
