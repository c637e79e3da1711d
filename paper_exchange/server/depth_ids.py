"""The order book's update id (``u``) per symbol, shared by REST and the WebSocket."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paper_exchange.engine.exchange import Engine


class UpdateIds:
    """``u`` per symbol: moves on whenever the book may have changed (price, a taker, a
    refill), so a client sees one sequence across REST and the WebSocket."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[object, int]] = {}

    def current(self, engine: Engine, now_ms: int, symbol: str) -> int:
        book = engine.depth[symbol]
        key = (engine.prices[symbol], book.fingerprint(now_ms))
        seen = self._state.get(symbol)
        if seen is None:
            u = 1
        elif seen[0] != key:
            u = seen[1] + 1
        else:
            return seen[1]
        self._state[symbol] = (key, u)
        return u
