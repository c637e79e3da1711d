"""A bot's universe: the symbols it may enter, kept as registered or re-selected from
the exchange's tickers on the strategy's schedule (``Strategy.universe_refresh``).

A backtest selects with this same class, from the turnover of the stored candles
instead of the exchange's tickers (``bots/backtest/rules.py``, :meth:`Universe.select`).

A symbol that leaves the universe is not dropped: the host keeps its candles coming and
keeps managing a position there; only new entries are refused. The current universe is
published in the bot's Redis (``bot:{id}:universe``) for operators and logged on change;
a change after the first selection is also announced (``universe``,
``bots/runtime/notify.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import redis

from core import redis_keys
from core.ids import BotId
from core.strategy import Strategy

log = logging.getLogger(__name__)
#: After a failed tickers request, try again this much (simulated) time later.
RETRY = timedelta(minutes=5)
#: Told (symbols now, joined, left) when the universe changes after its first selection.
OnChange = Callable[[list[str], list[str], list[str]], None]


def turnover_by_symbol(tickers: list[dict[str, Any]]) -> dict[str, Decimal]:
    """``turnover24h`` per symbol from a ``/v5/market/tickers`` list; unreadable rows skipped."""
    out: dict[str, Decimal] = {}
    for row in tickers:
        try:
            out[str(row["symbol"])] = Decimal(str(row.get("turnover24h") or "0"))
        except (KeyError, InvalidOperation):
            log.warning("tickers: unreadable row skipped: %r", row)
    return out


class Universe:
    def __init__(
        self,
        strategy: Strategy[Any],
        http: Any,
        bot_redis: redis.Redis | None,
        bot_id: BotId,
        on_change: OnChange | None = None,
    ) -> None:
        self._strategy, self._http, self._redis, self._bot_id = strategy, http, bot_redis, bot_id
        self._on_change = on_change
        self._every = strategy.universe_refresh()
        self._next: datetime | None = None
        self.current: list[str] = list(strategy.symbols)

    @property
    def dynamic(self) -> bool:
        return self._every is not None

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.current

    def due(self, now: datetime) -> bool:
        return self._every is not None and (self._next is None or now >= self._next)

    def refresh(self, now: datetime) -> list[str]:
        """Re-selects the universe (exchange time ``now``); returns the symbols that joined."""
        assert self._every is not None, "a fixed universe is never refreshed"
        try:
            reply = self._http.get_tickers(category="linear")
            turnover = turnover_by_symbol(reply["result"]["list"])
        except Exception as exc:  # keep trading the last universe; say so
            log.warning("bot %s: universe not refreshed (%s); keeping %d symbols",
                        self._bot_id, exc, len(self.current))  # fmt: skip
            self._next = now + RETRY
            return []
        return self.select(now, turnover)

    def select(self, now: datetime, turnover_24h: dict[str, Decimal]) -> list[str]:
        """Re-selects the universe from each symbol's 24-hour turnover (USDT) at ``now``;
        returns the symbols that joined."""
        assert self._every is not None, "a fixed universe is never refreshed"
        try:
            chosen = self._strategy.select_universe(turnover_24h)
        except Exception as exc:  # keep trading the last universe; say so
            log.warning("bot %s: universe not refreshed (%s); keeping %d symbols",
                        self._bot_id, exc, len(self.current))  # fmt: skip
            self._next = now + RETRY
            return []
        joined = [s for s in chosen if s not in self.current]
        left = [s for s in self.current if s not in chosen]
        if joined or left or self._next is None:
            log.info("bot %s universe: %d symbols %s (joined %s, left %s)", self._bot_id,
                     len(chosen), ",".join(chosen), joined or "-", left or "-")  # fmt: skip
            if (joined or left) and self._next is not None and self._on_change is not None:
                self._on_change(chosen, joined, left)
        self.current = chosen
        self._next = now + self._every
        if self._redis is None:
            return joined
        self._redis.set(
            redis_keys.universe(self._bot_id),
            json.dumps({"symbols": chosen, "updated_at": now.isoformat()}),
        )
        return joined
