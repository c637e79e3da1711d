"""The numbers a backtest is judged and compared by, computed exactly.

Money (P&L, fees, funding, drawdown, expectancy) is ``Decimal`` from the engine's
``Decimal`` and never passes through a float. Ratios (Sharpe, Sortino, Calmar) are
``Decimal`` too, computed at 28 significant digits, so the same run always stores the
same digits. Conventions (docs/research.md#metrics):

* per-bar returns are ``equity[i] / equity[i-1] - 1`` over the mark-to-market equity at
  each bar's close, with the initial equity as the point before the first bar;
* Sharpe is ``mean / sample standard deviation × √(bars per year)``, risk-free rate zero;
* Sortino is ``mean / downside deviation × √(bars per year)``, the downside deviation
  being ``√(Σ min(r, 0)² / n)`` over all ``n`` returns;
* Calmar is the compound annual growth rate over the maximum drawdown as a fraction of
  its peak;
* a drawdown lasts from the bar its peak was set to the first bar back at or above that
  peak (or to the last bar, when it never recovered);
* exposure is the share of the run's time (first bar's open to last bar's close) during
  which at least one position was open;
* a ratio whose denominator is zero is ``None`` (shown as n/a), never infinity; so are
  the ratios of a run whose equity fell to zero, and a Calmar too large to represent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext

from bots.backtest.engine import BacktestResult, RoundTrip

ZERO = Decimal(0)
SECONDS_PER_YEAR = Decimal(365 * 24 * 3600)


@dataclass(frozen=True, slots=True)
class Drawdown:
    amount: Decimal  # quote currency, peak minus trough
    fraction: Decimal  # of the peak
    duration: timedelta  # peak to recovery (or to the last bar)


@dataclass(frozen=True, slots=True)
class TradeStats:
    """Round-trip statistics of one set of trades (the whole run, or one symbol)."""

    trades: int
    wins: int
    gross_pnl: Decimal
    fees: Decimal
    funding: Decimal
    net_pnl: Decimal
    win_rate: Decimal | None
    profit_factor: Decimal | None
    expectancy: Decimal | None


@dataclass(frozen=True, slots=True)
class Metrics:
    initial_equity: Decimal
    final_equity: Decimal
    net_pnl: Decimal
    gross_pnl: Decimal  # net P&L before fees and funding
    fees: Decimal
    funding: Decimal  # received (positive) or paid (negative)
    funding_modelled: bool
    total: TradeStats
    per_symbol: dict[str, TradeStats]
    max_drawdown: Drawdown
    sharpe: Decimal | None
    sortino: Decimal | None
    calmar: Decimal | None
    exposure: Decimal | None
    start: datetime | None
    end: datetime | None

    def to_json(self) -> dict[str, object]:
        """Every value as a string (decimals keep their digits) or an integer."""

        def text(value: object) -> object:
            if value is None or isinstance(value, (int, bool)):
                return value
            if isinstance(value, timedelta):
                return int(value.total_seconds())
            if isinstance(value, datetime):
                return value.isoformat()
            return str(value)

        def stats(s: TradeStats) -> dict[str, object]:
            return {name: text(getattr(s, name)) for name in TradeStats.__slots__}

        return {
            "initial_equity": text(self.initial_equity),
            "final_equity": text(self.final_equity),
            "net_pnl": text(self.net_pnl),
            "gross_pnl": text(self.gross_pnl),
            "fees": text(self.fees),
            "funding": text(self.funding),
            "funding_modelled": self.funding_modelled,
            "trades": stats(self.total),
            "per_symbol": {sym: stats(s) for sym, s in sorted(self.per_symbol.items())},
            "max_drawdown": text(self.max_drawdown.amount),
            "max_drawdown_fraction": text(self.max_drawdown.fraction),
            "max_drawdown_seconds": text(self.max_drawdown.duration),
            "sharpe": text(self.sharpe),
            "sortino": text(self.sortino),
            "calmar": text(self.calmar),
            "exposure": text(self.exposure),
            "start": text(self.start),
            "end": text(self.end),
        }


def trade_stats(trades: Sequence[RoundTrip]) -> TradeStats:
    """Win rate, profit factor (the winners' net P&L over the losers' net loss) and
    expectancy (mean net P&L per trade), net of fees and funding. A trade is a win when
    its net P&L is above zero."""
    nets = [t.net_pnl for t in trades]
    fees = sum((t.fees for t in trades), ZERO)
    total_funding = sum((t.funding for t in trades), ZERO)
    net = sum(nets, ZERO)
    won = sum((n for n in nets if n > 0), ZERO)
    lost = -sum((n for n in nets if n < 0), ZERO)
    wins = sum(1 for n in nets if n > 0)
    count = len(trades)
    return TradeStats(
        trades=count,
        wins=wins,
        gross_pnl=net + fees - total_funding,
        fees=fees,
        funding=total_funding,
        net_pnl=net,
        win_rate=Decimal(wins) / count if count else None,
        profit_factor=won / lost if lost else None,
        expectancy=net / count if count else None,
    )


def max_drawdown(
    initial: Decimal, start: datetime, curve: Sequence[tuple[datetime, Decimal]]
) -> Drawdown:
    """The deepest peak-to-trough fall of ``curve`` and the longest time spent below a
    peak. The initial equity at ``start`` is the first peak."""
    peak, peak_time = initial, start
    worst, worst_fraction = ZERO, ZERO
    longest = timedelta(0)
    below = False
    for when, equity in curve:
        if equity >= peak:
            if below:
                longest = max(longest, when - peak_time)
                below = False
            peak, peak_time = equity, when
            continue
        below = True
        if peak - equity > worst:
            worst = peak - equity
            worst_fraction = worst / peak
    if below:
        longest = max(longest, curve[-1][0] - peak_time)
    return Drawdown(worst, worst_fraction, longest)


def _returns(initial: Decimal, curve: Sequence[tuple[datetime, Decimal]]) -> list[Decimal]:
    """Per-bar returns; none at all once the equity is gone (a return on nothing has no
    meaning, and the ratios built on it would be noise)."""
    previous, out = initial, []
    for _, equity in curve:
        if previous <= 0:
            return []
        out.append(equity / previous - 1)
        previous = equity
    return out


def sharpe(returns: Sequence[Decimal], bars_per_year: Decimal) -> Decimal | None:
    n = len(returns)
    if n < 2:
        return None
    mean = sum(returns, ZERO) / n
    variance = sum(((r - mean) ** 2 for r in returns), ZERO) / (n - 1)
    if not variance:
        return None
    return mean / variance.sqrt() * bars_per_year.sqrt()


def sortino(returns: Sequence[Decimal], bars_per_year: Decimal) -> Decimal | None:
    n = len(returns)
    if not n:
        return None
    mean = sum(returns, ZERO) / n
    downside = sum((r * r for r in returns if r < 0), ZERO) / n
    if not downside:
        return None
    return mean / downside.sqrt() * bars_per_year.sqrt()


def exposure(trades: Sequence[RoundTrip], start: datetime, end: datetime) -> Decimal | None:
    """The share of ``[start, end]`` covered by at least one open round trip (overlapping
    trades on several symbols count once)."""
    span = end - start
    if span <= timedelta(0):
        return None
    covered = timedelta(0)
    reach = start  # everything before this is already counted
    for t in sorted(trades, key=lambda t: t.opened):
        opened, closed = max(t.opened, reach), min(t.closed, end)
        if closed > opened:
            covered += closed - opened
            reach = closed
    return Decimal(int(covered.total_seconds())) / Decimal(int(span.total_seconds()))


def compute(result: BacktestResult, bar_seconds: int) -> Metrics:
    """All metrics of ``result``, whose bars are ``bar_seconds`` long. Funding is zero,
    and ``funding_modelled`` false, when the backtest was given no settlements."""
    with localcontext() as ctx:
        ctx.prec = 28
        curve, trades = result.equity_curve, result.trades
        per_symbol = {
            symbol: trade_stats([t for t in trades if t.symbol == symbol])
            for symbol in sorted({t.symbol for t in trades})
        }
        start = curve[0][0] - timedelta(seconds=bar_seconds) if curve else None
        end = curve[-1][0] if curve else None
        bars_per_year = SECONDS_PER_YEAR / bar_seconds
        returns = _returns(result.initial_equity, curve)
        drawdown = max_drawdown(result.initial_equity, start or datetime.min, curve)
        calmar = None
        if start is not None and end is not None and drawdown.fraction and result.final_equity > 0:
            years = Decimal(int((end - start).total_seconds())) / SECONDS_PER_YEAR
            try:
                growth = (result.final_equity / result.initial_equity) ** (1 / years) - 1
                calmar = growth / drawdown.fraction
            except ArithmeticError:  # a short run compounded to beyond any number
                calmar = None
        net = result.final_equity - result.initial_equity
        return Metrics(
            initial_equity=result.initial_equity,
            final_equity=result.final_equity,
            net_pnl=net,
            gross_pnl=net + result.fees - result.funding,
            fees=result.fees,
            funding=result.funding,
            funding_modelled=result.funding_modelled,
            total=trade_stats(trades),
            per_symbol=per_symbol,
            max_drawdown=drawdown,
            sharpe=sharpe(returns, bars_per_year),
            sortino=sortino(returns, bars_per_year),
            calmar=calmar,
            exposure=None if start is None or end is None else exposure(trades, start, end),
            start=start,
            end=end,
        )
