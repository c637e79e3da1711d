"""Market depth as Bybit serves it: ``GET /v5/market/orderbook`` and the public
WebSocket topic ``orderbook.{depth}.{symbol}`` (a snapshot on subscribe, then deltas;
level 1 is snapshots only, re-sent after 3 s without a change, as Bybit documents).

Both read the engine's order book (``engine/orderbook.py``) around the last price.
"""

from __future__ import annotations

from decimal import Decimal

from paper_exchange.engine.errors import params_error
from paper_exchange.engine.numbers import parse_int
from paper_exchange.server.host import Host

#: Depths Bybit streams for linear contracts.
WS_DEPTHS = frozenset({"1", "50", "200", "1000"})
LEVEL1_RESEND_MS = 3_000
Levels = list[list[str]]


def levels(ex: Host, symbol: str, limit: int) -> tuple[Levels, Levels]:
    """Bids (descending) and asks (ascending) as Bybit's ``[price, size]`` string pairs."""
    inst = ex.engine.instruments[symbol]
    bids, asks = ex.engine.depth[symbol].depth(ex.engine.prices[symbol], limit, ex.market.now_ms)
    return (
        [[inst.price_str(p), inst.qty_str(q)] for p, q in bids],
        [[inst.price_str(p), inst.qty_str(q)] for p, q in asks],
    )


def orderbook_rest(ex: Host, p: dict[str, object]) -> dict[str, object]:
    category = p.get("category")
    if category != "linear":
        raise params_error("category only support linear")
    symbol = p.get("symbol")
    if not isinstance(symbol, str) or symbol not in ex.engine.depth:
        raise params_error(f"symbol invalid: {symbol}")
    limit = parse_int(p.get("limit"), "limit", 25)  # Bybit's default for linear
    if not 1 <= limit <= 1000:
        raise params_error("limit must be in [1, 1000]")
    ex.sync_clock()
    bids, asks = levels(ex, symbol, limit)
    now = ex.market.now_ms
    u = ex.depth_ids.current(ex.engine, ex.market.now_ms, symbol)
    return {"s": symbol, "b": bids, "a": asks, "ts": now, "u": u, "seq": u, "cts": now}


def valid_topic(ex: Host, parts: list[str]) -> bool:
    return len(parts) == 3 and parts[1] in WS_DEPTHS and parts[2] in ex.engine.depth


class DepthStream:
    """What one connection last saw of one ``orderbook`` topic, to send deltas."""

    def __init__(self) -> None:
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.u = -1
        self.sent_ms = 0

    def message(self, ex: Host, topic: str) -> dict[str, object] | None:
        _o, depth, symbol = topic.split(".")
        now = ex.market.now_ms
        u = ex.depth_ids.current(ex.engine, ex.market.now_ms, symbol)
        level1 = depth == "1"
        if u == self.u and not (level1 and now - self.sent_ms >= LEVEL1_RESEND_MS):
            return None
        bids, asks = levels(ex, symbol, int(depth))
        new_b, new_a = dict((p, q) for p, q in bids), dict((p, q) for p, q in asks)
        first = self.u < 0
        if first or level1:
            kind, b, a = "snapshot", bids, asks
        else:
            kind, b, a = "delta", _diff(self.bids, new_b, True), _diff(self.asks, new_a, False)
            if not b and not a:
                self.u = u
                return None
        self.bids, self.asks, self.u, self.sent_ms = new_b, new_a, u, now
        data = {"s": symbol, "b": b, "a": a, "u": u, "seq": u}
        return {"topic": topic, "type": kind, "ts": now, "data": data, "cts": now}


def _diff(old: dict[str, str], new: dict[str, str], descending: bool) -> Levels:
    """Changed and new levels, and removed ones with size "0" (Bybit's delta rule)."""
    rows = [[p, q] for p, q in new.items() if old.get(p) != q]
    rows += [[p, "0"] for p in old if p not in new]
    rows.sort(key=lambda r: Decimal(r[0]), reverse=descending)
    return rows
