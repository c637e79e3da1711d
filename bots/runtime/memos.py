"""What a strategy asks to remember per symbol, kept in Redis across restarts.

A strategy's ``remember(symbol)`` returns a flat ``str -> str`` mapping (or nothing);
it is stored as the hash ``memo:{bot}:{symbol}`` and handed back through ``recall`` at
the next start. Only changed memos are written: this runs after every batch of events.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from core import redis_keys
from core.ids import BotId
from core.strategy import Strategy


class MemoStore:
    def __init__(self, bot_redis: redis.Redis, bot_id: BotId, strategy: Strategy[Any]) -> None:
        self._redis = bot_redis
        self._bot_id = bot_id
        self._strategy = strategy
        #: What the strategy last asked to remember per symbol (as stored in Redis).
        self._memos: dict[str, dict[str, str]] = {}

    def recall(self, symbols: Iterable[str]) -> None:
        """Hand the strategy what it remembered before the restart."""
        for symbol in symbols:
            memo = self._redis.hgetall(redis_keys.memo(self._bot_id, symbol))
            if memo:
                self._memos[symbol] = dict(memo)  # type: ignore[arg-type]
                self._strategy.recall(symbol, dict(memo))  # type: ignore[arg-type]

    def save(self, symbols: Iterable[str]) -> None:
        """Write what the strategy remembers, per symbol, only where it changed."""
        for symbol in symbols:
            memo = self._strategy.remember(symbol)
            memo = dict(memo) if memo else None
            if memo == self._memos.get(symbol):
                continue
            key = redis_keys.memo(self._bot_id, symbol)
            if memo is None:
                self._redis.delete(key)
                self._memos.pop(symbol, None)
            else:
                pipe = self._redis.pipeline()
                pipe.delete(key)
                pipe.hset(key, mapping=memo)
                pipe.execute()
                self._memos[symbol] = memo
