"""What a strategy asks to remember per symbol, kept in Redis across restarts.

A strategy's ``remember(symbol)`` returns a flat ``str -> str`` mapping (or nothing);
it is stored as the hash ``memo:{bot}:{symbol}`` and handed back through ``recall`` at
the next start; ``remember_strategy()``, tied to no symbol, as ``bot:{bot}:memo`` and
``recall_strategy``. Only changed memos are written: this runs after every batch of events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import redis

from core import redis_keys
from core.ids import BotId
from core.strategy import Strategy

#: Where the strategy-wide memo sits among the per-symbol ones (no symbol is empty).
_WHOLE = ""


class MemoStore:
    def __init__(self, bot_redis: redis.Redis, bot_id: BotId, strategy: Strategy[Any]) -> None:
        self._redis = bot_redis
        self._bot_id = bot_id
        self._strategy = strategy
        #: What the strategy last asked to remember per symbol (as stored in Redis).
        self._memos: dict[str, dict[str, str]] = {}

    def recall(self, symbols: Iterable[str]) -> None:
        """Hand the strategy what it remembered before the restart."""
        whole = self._redis.hgetall(redis_keys.strategy_memo(self._bot_id))
        if whole:
            self._memos[_WHOLE] = dict(whole)  # type: ignore[arg-type]
            self._strategy.recall_strategy(dict(whole))  # type: ignore[arg-type]
        for symbol in symbols:
            memo = self._redis.hgetall(redis_keys.memo(self._bot_id, symbol))
            if memo:
                self._memos[symbol] = dict(memo)  # type: ignore[arg-type]
                self._strategy.recall(symbol, dict(memo))  # type: ignore[arg-type]

    def save(self, symbols: Iterable[str]) -> None:
        """Write what the strategy remembers, per symbol, only where it changed."""
        self._write(_WHOLE, redis_keys.strategy_memo(self._bot_id),
                    self._strategy.remember_strategy())  # fmt: skip
        for symbol in symbols:
            self._write(symbol, redis_keys.memo(self._bot_id, symbol),
                        self._strategy.remember(symbol))  # fmt: skip

    def _write(self, symbol: str, key: str, remembered: Mapping[str, str] | None) -> None:
        memo = dict(remembered) if remembered else None
        if memo != self._memos.get(symbol):
            if memo is None:
                self._redis.delete(key)
                self._memos.pop(symbol, None)
            else:
                pipe = self._redis.pipeline()
                pipe.delete(key)
                pipe.hset(key, mapping=memo)
                pipe.execute()
                self._memos[symbol] = memo
