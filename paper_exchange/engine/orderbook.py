"""The order book of one symbol: depth levels around the market's last price.

The market generator decides where the price is; the book is the resting liquidity a
taker meets around it. Level ``k`` on each side sits ``tick + k * spacing`` away from
the last price and holds ``qty_per_level * (1 + growth * k)`` (real books are thin at the
touch and deeper further out). A taker that eats a level leaves it short by what it
took; the shortfall refills linearly over ``refill_ms`` of simulated time, so a second
large order right after the first meets a thinner book and slips further.

``refill_ms == 0`` (the default profile) refills at once: every taker sees the full
book, which is how the paper exchange behaved before the book had state.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from paper_exchange.engine.instruments import Instrument
from paper_exchange.engine.turnover import minute_turnover

ZERO = Decimal(0)


@dataclass(slots=True)
class Liquidity:
    """How deep one symbol's book is."""

    qty_per_level: Decimal  # resting size at the touch (also per path step for makers)
    level_bps: Decimal = Decimal(1)  # distance between levels, basis points of price
    slippage_band: Decimal = Decimal("0.05")  # market orders fill only inside this band
    growth: Decimal = ZERO  # each level further out holds this fraction more than the touch
    refill_ms: int = 0  # how long an emptied level takes to fill again; 0 = at once
    #: Resting limits fill from the market's traded volume (shared in price-time
    #: priority) instead of ``qty_per_level`` per crossing; see ``matching``.
    flow_limited: bool = False


#: Named depth profiles: USDT resting at the touch per symbol, and the book's shape.
#: "flat" is today's default (about 2M USDT a level, no memory); "realistic" rests
#: ``touch_share`` of a minute's turnover (``turnover``) at the touch, so BTC (5M USDT a
#: minute) holds 250k and a 100M-a-day alt 3.5k, with levels that take time to refill
#: and resting limits filled by the traded volume: ordinary orders slip, large ones on
#: thin symbols fill in pieces.
PROFILES: dict[str, dict[str, object]] = {
    "flat": {"default_usdt": Decimal(2_000_000)},
    "realistic": {
        "touch_share": Decimal("0.05"),
        "level_bps": Decimal(2),
        "growth": Decimal("0.5"),
        "refill_ms": 30_000,
        "flow_limited": True,
    },
}


def touch_usdt(profile: str, symbol: str) -> Decimal:
    """USDT a named profile rests at the touch of ``symbol``'s book."""
    spec = PROFILES[profile]
    share = spec.get("touch_share")
    if isinstance(share, Decimal):
        return (minute_turnover(symbol) * share).quantize(Decimal(1))
    usdt = spec["default_usdt"]
    assert isinstance(usdt, Decimal)
    return usdt


def profile_liquidity(profile: str, inst: Instrument, price: Decimal) -> Liquidity:
    """The ``Liquidity`` a named profile gives ``inst`` at ``price``."""
    spec = PROFILES[profile]
    usdt = touch_usdt(profile, inst.symbol)
    qty = max((usdt / price).quantize(inst.qty_step, ROUND_DOWN), inst.qty_step)
    liq = Liquidity(qty_per_level=qty)
    level_bps = spec.get("level_bps")
    if isinstance(level_bps, Decimal):
        liq.level_bps = level_bps
    growth = spec.get("growth")
    if isinstance(growth, Decimal):
        liq.growth = growth
    refill = spec.get("refill_ms")
    if isinstance(refill, int):
        liq.refill_ms = refill
    liq.flow_limited = spec.get("flow_limited") is True
    return liq


class OrderBook:
    """One symbol's depth: full levels minus what takers took and has not refilled."""

    def __init__(self, inst: Instrument, liquidity: Liquidity) -> None:
        self.inst = inst
        self.liq = liquidity
        # (side "a"/"b", price) -> (missing qty, when last taken, the level's full qty)
        self._taken: dict[tuple[str, Decimal], tuple[Decimal, int, Decimal]] = {}

    def spacing(self, ref: Decimal) -> Decimal:
        tick = self.inst.tick_size
        return max(tick, (ref * self.liq.level_bps / 10000).quantize(tick, ROUND_DOWN))

    def full_qty(self, k: int) -> Decimal:
        if not self.liq.growth:
            return self.liq.qty_per_level  # flat: every order's hot path, keep it cheap
        qty = self.liq.qty_per_level * (1 + self.liq.growth * k)
        return max(qty.quantize(self.inst.qty_step, ROUND_DOWN), self.inst.qty_step)

    def _missing(self, key: tuple[str, Decimal], now: int) -> Decimal:
        rec = self._taken.get(key) if self._taken else None
        if rec is None:
            return ZERO
        missing, at, full = rec
        refill = self.liq.refill_ms
        if refill <= 0:
            del self._taken[key]
            return ZERO
        back = full * Decimal(max(0, now - at)) / Decimal(refill)
        left = (missing - back).quantize(self.inst.qty_step, ROUND_DOWN)
        if left <= 0:
            del self._taken[key]
            return ZERO
        return left

    def levels(self, side: str, ref: Decimal, now: int) -> Iterator[tuple[int, Decimal, Decimal]]:
        """``(k, price, available)`` outward from ``ref`` on ``side`` ("a" asks, "b" bids);
        endless on the ask side, ending at price 0 on the bid side; empty levels skipped."""
        tick = self.inst.tick_size
        spacing = self.spacing(ref)
        step = spacing if side == "a" else -spacing
        price = ref + tick if side == "a" else ref - tick
        k = 0
        while price > 0:
            avail = self.full_qty(k) - self._missing((side, price), now)
            if avail > 0:
                yield k, price, avail
            price += step
            k += 1

    def take(self, side: str, k: int, price: Decimal, qty: Decimal, now: int) -> None:
        """A taker took ``qty`` at level ``k`` of ``side``."""
        if self.liq.refill_ms <= 0:
            return  # refills at once: nothing to remember
        key = (side, price)
        self._taken[key] = (self._missing(key, now) + qty, now, self.full_qty(k))

    def fingerprint(self, now: int) -> tuple[tuple[str, Decimal, Decimal], ...]:
        """What takers have taken and not yet refilled: equal fingerprints (at the same
        price) mean the same book, so the feed can tell when ``u`` moves on."""
        missing = ((key, self._missing(key, now)) for key in list(self._taken))
        return tuple(sorted((k[0], k[1], m) for k, m in missing if m > 0))

    def depth(
        self, ref: Decimal, limit: int, now: int
    ) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """The top ``limit`` bids (descending) and asks (ascending)."""
        bids: list[tuple[Decimal, Decimal]] = []
        for _k, price, qty in self.levels("b", ref, now):
            if len(bids) >= limit:
                break
            bids.append((price, qty))
        asks: list[tuple[Decimal, Decimal]] = []
        for _k, price, qty in self.levels("a", ref, now):
            if len(asks) >= limit:
                break
            asks.append((price, qty))
        return bids, asks
