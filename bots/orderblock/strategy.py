"""Order-block "OB-v1", no look-ahead (docs/strategies.md#order-block).

Everything is decided on closed bars with information available at that bar: a pivot at
``k`` is only usable once bar ``k+N`` has closed; a block's lifecycle on bar ``i`` is
evaluated before the breaks of bar ``i``; the block candle is searched among bars that
closed before the break.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Literal

from bots.orderblock.config import OrderBlockConfig
from bots.trades import TradeBook, TradeBookStrategy
from core.candles import Candle
from core.indicators import ATR
from core.strategy import FillEvent, Intent, PositionView, Reason, Side, StrategyContext

Kind = Literal["bullish", "bearish"]
HUNDRED = Decimal(100)


@dataclass(slots=True, eq=False)
class Block:
    kind: Kind
    candle: int  # index of the block candle m
    top: Decimal
    bottom: Decimal
    pivot: int  # index k of the broken pivot
    created: int  # index i of the breaking bar
    touched: int | None = None
    invalidated: int | None = None
    expired: int | None = None
    dropped: int | None = None  # pushed out by newer blocks (max_active_per_side)
    order_key: str | None = None  # the trade key of its entry order, while it rests

    @property
    def active(self) -> bool:
        return self.invalidated is None and self.expired is None and self.dropped is None


class _Series:
    """Per-symbol state: the pivot window, the two candidate pivots, active blocks."""

    __slots__ = (
        "atr", "blocks", "highs", "i", "lows", "ph", "ph_ext", "ph_used", "pl", "pl_ext",
        "pl_used", "watch",
    )  # fmt: skip

    def __init__(self, cfg: OrderBlockConfig) -> None:
        n = cfg.pivot_len
        self.i = -1
        self.highs: deque[Decimal] = deque(maxlen=2 * n + 1)
        self.lows: deque[Decimal] = deque(maxlen=2 * n + 1)
        self.atr = ATR(cfg.atr_period)
        # Most recent confirmed pivot high (index, price), whether a block used it, and the
        # lowest low since it (price, index; latest on ties) = the bullish block candidate.
        self.ph: tuple[int, Decimal] | None = None
        self.ph_used = False
        self.ph_ext: tuple[Decimal, int, Decimal] | None = None  # (low, index, high)
        self.pl: tuple[int, Decimal] | None = None
        self.pl_used = False
        self.pl_ext: tuple[Decimal, int, Decimal] | None = None  # (high, index, low)
        self.blocks: list[Block] = []  # active blocks, oldest first
        #: The nearest levels at which any active block changes state (see :func:`_watch`);
        #: a bar inside all of them leaves every block as it is, so the scan is skipped.
        self.watch: tuple[Decimal, Decimal, Decimal, Decimal, int] = NOTHING_TO_WATCH


class OrderBlock(TradeBookStrategy[OrderBlockConfig]):
    """Rests a limit order at each fresh order block, with a stop beyond it and a fixed
    reward-to-risk take profit."""

    Config: ClassVar[type[OrderBlockConfig]] = OrderBlockConfig
    warmup_bars: ClassVar[int] = 300

    def __init__(self, config: OrderBlockConfig | dict[str, object] | None = None) -> None:
        super().__init__(config)
        self.series = {s: _Series(self.config) for s in self.config.symbols}
        self.book = TradeBook(reduce_only=self.config.exclusive)
        #: Every block ever created, per symbol, for inspection and tests.
        self.history: dict[str, list[Block]] = {s: [] for s in self.config.symbols}
        #: Levels given back by the host after a restart, until :meth:`adopt` uses them.
        self.recalled: dict[str, dict[str, str]] = {}

    # -- detection ---------------------------------------------------------------------------

    def _step(self, s: _Series, c: Candle, symbol: str) -> tuple[list[Block], list[Block]]:
        """Fold one closed bar in. Returns (blocks that ended on it, blocks created on it)."""
        cfg = self.config
        s.i = i = s.i + 1
        high, low, close = c.high, c.low, c.close
        s.atr.update(high, low, close)

        # 1. Lifecycle of the blocks created before this bar.
        ended: list[Block] = []
        blocks = s.blocks
        if cfg.mitigation == "wick":
            body_low, body_high = low, high
        else:
            open_ = c.open
            body_low, body_high = (open_, close) if open_ < close else (close, open_)
        bull_touch, bull_inv, bear_touch, bear_inv, expiry = s.watch
        if blocks and (
            low <= bull_touch
            or body_low < bull_inv
            or high >= bear_touch
            or body_high > bear_inv
            or i >= expiry
        ):
            max_age = cfg.max_age_bars
            for b in blocks:
                if b.kind == "bullish":
                    if b.touched is None and low <= b.top:
                        b.touched = i
                    if body_low < b.bottom:
                        b.invalidated = i
                else:
                    if b.touched is None and high >= b.bottom:
                        b.touched = i
                    if body_high > b.top:
                        b.invalidated = i
                if b.invalidated is not None:
                    ended.append(b)
                elif i - b.created >= max_age:
                    b.expired = i
                    ended.append(b)
            if ended:
                s.blocks = blocks = [b for b in blocks if b.active]
            s.watch = _watch(blocks, cfg.max_age_bars)

        # 2. Breaks of the most recent confirmed pivots (one block per pivot).
        created: list[Block] = []
        ph = s.ph
        if ph is not None and close > ph[1] and not s.ph_used and s.ph_ext is not None:
            s.ph_used = True
            m_low, m, m_high = s.ph_ext
            created.append(Block("bullish", m, m_high, m_low, ph[0], i))
        pl = s.pl
        if pl is not None and close < pl[1] and not s.pl_used and s.pl_ext is not None:
            s.pl_used = True
            m_high, m, m_low = s.pl_ext
            created.append(Block("bearish", m, m_high, m_low, pl[0], i))

        # 3. This bar now lies between the pivots and any later break.
        ext = s.ph_ext
        if ext is not None and low <= ext[0]:
            s.ph_ext = (low, i, high)
        ext = s.pl_ext
        if ext is not None and high >= ext[0]:
            s.pl_ext = (high, i, low)

        # 4. Pivots confirmed by this bar: k = i − N with N bars on each side.
        hs, ls = s.highs, s.lows
        hs.append(high)
        ls.append(low)
        n = cfg.pivot_len
        if len(hs) == 2 * n + 1:
            hk, lk = hs[n], ls[n]
            # Cheap rejections first (neighbour and newest bar): most bars are no pivot.
            if hk > hs[n - 1] and hk >= high:
                hl = list(hs)
                if hk > max(hl[:n]) and hk >= max(hl[n + 1 :]):
                    s.ph, s.ph_used = (i - n, hk), False
                    s.ph_ext = _lowest(list(ls), hl, n, i - n)
            if lk < ls[n - 1] and lk <= low:
                ll = list(ls)
                if lk < min(ll[:n]) and lk <= min(ll[n + 1 :]):
                    s.pl, s.pl_used = (i - n, lk), False
                    s.pl_ext = _highest(list(hs), ll, n, i - n)

        # 5. Newest blocks win; the oldest beyond the limit per side are dropped.
        if created:
            blocks.extend(created)
            self.history.setdefault(symbol, []).extend(created)
            for kind in ("bullish", "bearish"):
                same = [b for b in blocks if b.kind == kind]
                for b in same[: max(0, len(same) - cfg.max_active_per_side)]:
                    b.dropped = i
                    ended.append(b)
            s.blocks = blocks = [b for b in blocks if b.active]
            s.watch = _watch(blocks, cfg.max_age_bars)
        return ended, created

    def _get(self, symbol: str) -> _Series | None:
        return self.series.get(symbol)

    def observe(self, candle: Candle) -> None:
        s = self._get(candle.symbol)
        if s is not None:
            self._step(s, candle, candle.symbol)

    def active_blocks(self, symbol: str) -> list[Block]:
        s = self._get(symbol)
        return list(s.blocks) if s is not None else []

    # -- orders ---------------------------------------------------------------------------------

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        s = self._get(candle.symbol)
        if s is None:
            return []
        ended, created = self._step(s, candle, candle.symbol)
        out: list[Intent] = []
        for b in ended:
            out += self._withdraw(b, ctx)
        if created:
            out += self._place(created[-1], s, candle.symbol, ctx)
        return out

    def _withdraw(self, b: Block, ctx: StrategyContext) -> list[Intent]:
        """Cancel the resting entry of a block that is no longer valid."""
        if b.order_key is None:
            return []
        trade = self.book.get(b.order_key)
        b.order_key = None
        return [] if trade is None else self.book.cancel_entry(ctx, trade, Reason.EXIT)

    def _place(self, b: Block, s: _Series, symbol: str, ctx: StrategyContext) -> list[Intent]:
        """A limit entry at the new block, replacing a resting one: one position per symbol."""
        out: list[Intent] = []
        trade = self.book.get(symbol)
        if trade is not None:
            if trade.qty > 0 or not trade.entry_open:
                return []  # a position is open (or exiting): no new orders on this symbol
            old = trade.data.get("block")
            if isinstance(old, Block):
                old.order_key = None
            out += self.book.cancel_entry(ctx, trade, Reason.EXIT)
        if not ctx.position(symbol).is_flat:
            return out
        cfg = self.config
        inst = ctx.instrument(symbol)
        atr = s.atr.value
        pad = max(inst.tick_size, cfg.atr_stop_mult * atr) if atr is not None else inst.tick_size
        if b.kind == "bullish":
            side: Side = "Buy"
            entry = inst.limit_price("Buy", b.top)
            stop = b.bottom - pad
            risk = entry - stop
            tp = entry + cfg.rr * risk
        else:
            side = "Sell"
            entry = inst.limit_price("Sell", b.bottom)
            stop = b.top + pad
            risk = stop - entry
            tp = entry - cfg.rr * risk
        if risk <= 0:
            return out
        qty = inst.order_qty(ctx.equity * cfg.risk_pct / HUNDRED / risk, entry)
        if qty is None:
            return out
        b.order_key = symbol
        out.append(
            self.book.enter_limit(ctx, symbol, symbol, side, qty, entry, block=b, stop=stop, tp=tp)
        )
        return out

    def on_fill(self, fill: FillEvent, ctx: StrategyContext) -> list[Intent]:
        """An entry limit may fill in pieces (a large order against the traded volume):
        the first piece places the stop and take profit, later ones grow them
        (``TradeBook.apply_fill``), and the block keeps its claim on the unfilled rest,
        so invalidation or expiry still withdraws it. Once the stop or the take profit
        fills, the rest is withdrawn too: the trade is over, and a rest left resting at
        the block's edge would re-enter after a stop-out."""
        trade, leg, out = self.book.apply_fill(fill, ctx)
        if trade is None:
            return out
        block = trade.data.get("block")
        if leg == "entry":
            if not trade.entry_open and isinstance(block, Block):
                block.order_key = None  # all filled: the block's fate cancels nothing
            if trade.stop_id is None and trade.qty > 0:
                out += self.book.protect(ctx, trade, trade.data["stop"], trade.data["tp"])
        elif leg in ("stop", "tp") and trade.entry_open:
            if isinstance(block, Block):
                block.order_key = None
            out += self.book.cancel_entry(ctx, trade, Reason.EXIT)
            # The position grew while this leg was working: the growth's amend may have
            # come too late for the triggered order. Whatever it leaves is closed at
            # market as soon as it is finished (TradeBook.exit_ended).
        return out

    def remember(self, symbol: str) -> dict[str, str] | None:
        """The block behind an open position and the levels taken from it: the ledger
        knows the position, not why it was entered or where its stop belongs."""
        trade = self.book.get(symbol)
        if trade is None or trade.qty <= 0 or "stop" not in trade.data:
            return None
        memo = {"stop": str(trade.data["stop"]), "tp": str(trade.data["tp"])}
        block = trade.data.get("block")
        if isinstance(block, Block):
            memo |= {"kind": block.kind, "top": str(block.top), "bottom": str(block.bottom)}
        elif isinstance(trade.data.get("recalled"), dict):
            memo = trade.data["recalled"]  # adopted after a restart: keep what was recalled
        return memo

    def recall(self, symbol: str, memo: Mapping[str, str]) -> None:
        self.recalled[symbol] = dict(memo)

    def adopt(
        self, position: PositionView, resting: list[Any], ctx: StrategyContext
    ) -> list[Intent]:
        """Recover the ledger's position after a restart. A resting stop/take profit is
        kept; without one, the block's own levels are used when the host recalled them
        (:meth:`remember`), else the stop is one ATR(14) beyond the average entry (1 %
        before the ATR is ready) and the take profit ``rr`` times that away. A resting
        entry is cancelled: warm-up rebuilds the blocks and re-places."""
        symbol = position.symbol
        memo = self.recalled.pop(symbol, None)
        if position.is_flat:
            return self.book.adopt(ctx, position, resting, symbol, None, None)[1]
        sign = 1 if position.qty > 0 else -1
        if memo and (memo.get("kind") or "bullish") == ("bullish" if sign > 0 else "bearish"):
            stop, tp = Decimal(memo["stop"]), Decimal(memo["tp"])
            trade, out = self.book.adopt(ctx, position, resting, symbol, stop, tp, recalled=memo)
            if trade is not None:
                trade.data |= {"stop": stop, "tp": tp}
            return out
        s = self._get(symbol)
        entry = position.avg_price
        atr = s.atr.value if s is not None else None
        risk = atr if atr else entry / HUNDRED
        stop = entry - sign * risk
        tp = entry + sign * self.config.rr * risk
        return self.book.adopt(ctx, position, resting, symbol, stop, tp)[1]


INF = Decimal("Infinity")
#: No active block: no level can trigger anything.
NOTHING_TO_WATCH: tuple[Decimal, Decimal, Decimal, Decimal, int] = (-INF, -INF, INF, INF, 1 << 62)


def _watch(blocks: list[Block], max_age: int) -> tuple[Decimal, Decimal, Decimal, Decimal, int]:
    """The levels a bar must reach for the lifecycle scan to change any of ``blocks``:
    (highest top of an untouched bullish block — touched by low ≤ it; highest bullish
    bottom — invalidated below it; lowest bottom of an untouched bearish block; lowest
    bearish top; the first bar index at which one expires)."""
    bull_touch, bull_inv, bear_touch, bear_inv, expiry = NOTHING_TO_WATCH
    for b in blocks:
        if b.kind == "bullish":
            if b.touched is None and b.top > bull_touch:
                bull_touch = b.top
            if b.bottom > bull_inv:
                bull_inv = b.bottom
        else:
            if b.touched is None and b.bottom < bear_touch:
                bear_touch = b.bottom
            if b.top < bear_inv:
                bear_inv = b.top
        if b.created + max_age < expiry:
            expiry = b.created + max_age
    return bull_touch, bull_inv, bear_touch, bear_inv, expiry


def _lowest(
    lows: list[Decimal], highs: list[Decimal], n: int, k: int
) -> tuple[Decimal, int, Decimal]:
    """Lowest low among the window bars after the pivot (latest on ties)."""
    best = n + 1
    for j in range(n + 2, 2 * n + 1):
        if lows[j] <= lows[best]:
            best = j
    return lows[best], k + best - n, highs[best]


def _highest(
    highs: list[Decimal], lows: list[Decimal], n: int, k: int
) -> tuple[Decimal, int, Decimal]:
    """Highest high among the window bars after the pivot (latest on ties)."""
    best = n + 1
    for j in range(n + 2, 2 * n + 1):
        if highs[j] >= highs[best]:
            best = j
    return highs[best], k + best - n, lows[best]
