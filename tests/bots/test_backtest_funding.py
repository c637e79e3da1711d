"""Funding in backtests, checked by hand (bots/backtest/engine.py, module docstring):
a position open at a settlement pays ``qty × price × rate`` when long and receives it
when short; the price is the open of the bar at the settlement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import ClassVar

from pydantic import Field

from bots.backtest import Backtest
from bots.backtest.metrics import compute
from core.candles import Candle
from core.strategy import (
    EnterMarket,
    ExitMarket,
    Intent,
    Side,
    Strategy,
    StrategyConfig,
    StrategyContext,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _at(hour: int) -> datetime:
    return T0 + timedelta(hours=hour)


class _Config(StrategyConfig):
    symbols: list[str] = Field(default_factory=lambda: ["BTCUSDT", "ETHUSDT"])
    interval: str = "60"


class _Script(Strategy[_Config]):
    """Sends market orders decided in advance: at the close of bar ``hour``."""

    Config = _Config
    PLAN: ClassVar[dict[tuple[str, int], tuple[Side, Decimal, bool]]] = {
        ("BTCUSDT", 0): ("Buy", Decimal(2), True),  # fills at 01:00's open, 100
        ("BTCUSDT", 8): ("Sell", Decimal(2), False),  # fills at 09:00's open, 125
        ("ETHUSDT", 1): ("Sell", Decimal(10), True),  # fills at 02:00's open, 50
        ("ETHUSDT", 5): ("Buy", Decimal(10), False),  # fills at 06:00's open, 50
    }

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        hour = int((candle.start - T0) / timedelta(hours=1))
        step = self.PLAN.get((candle.symbol, hour))
        if step is None:
            return []
        side, qty, entry = step
        kind = EnterMarket if entry else ExitMarket
        return [kind(f"{candle.symbol}-{hour}", candle.symbol, side, qty)]


def _bar(symbol: str, hour: int, price: str) -> Candle:
    p = Decimal(price)
    return Candle(symbol, "60", _at(hour), p, p, p, p, Decimal(1), p)


BTC = {0: "100", 1: "100", 2: "100", 3: "100", 4: "110", 5: "110", 6: "110", 7: "110"}
BTC |= {8: "120", 9: "125"}
CANDLES = [bar for h in range(10) for bar in (_bar("BTCUSDT", h, BTC[h]), _bar("ETHUSDT", h, "50"))]
FUNDING = {
    "BTCUSDT": [
        (_at(0), Decimal("0.0001")),  # before the entry fills: nothing
        (_at(4), Decimal("-0.0002")),  # long 2 at 110 receives 0.044
        (_at(8), Decimal("0.0001")),  # long 2 at 120 pays 0.024
        (_at(9), Decimal("0.0005")),  # settles before 09:00's exit fill: pays 0.125
    ],
    "ETHUSDT": [
        (_at(4), Decimal("0.0003")),  # short 10 at 50 receives 0.15
        (_at(8), Decimal("0.0003")),  # flat since 06:00: nothing
    ],
}


def test_funding_by_hand() -> None:
    result = Backtest(_Script(), funding=FUNDING).run(CANDLES)
    btc, eth = sorted(result.trades, key=lambda t: t.symbol)
    assert btc.funding == Decimal("-0.105")  # 0.044 - 0.024 - 0.125
    assert eth.funding == Decimal("0.15")
    assert result.funding == Decimal("0.045") and result.settlements == 4
    # Fees: taker 0.055 % of 200 and 250 (BTC), of 500 twice (ETH).
    assert btc.pnl == Decimal(50) - Decimal("0.11") - Decimal("0.1375")
    assert eth.pnl == -Decimal("0.55")
    assert btc.net_pnl == Decimal("49.6475") and eth.net_pnl == Decimal("-0.40")
    assert result.final_equity == Decimal("10049.2475")  # funding is in the equity
    # One curve point per bar time, after both symbols' bars of that time.
    assert [t for t, _ in result.equity_curve] == [_at(h + 1) for h in range(10)]
    assert result.equity_curve[-1][1] == result.final_equity
    m = compute(result, bar_seconds=3600)
    assert m.funding_modelled and m.funding == Decimal("0.045")
    assert m.net_pnl == Decimal("49.2475")
    assert m.gross_pnl == Decimal(50)  # before fees (0.8225) and funding (+0.045)
    assert m.total.net_pnl == m.net_pnl and m.total.funding == m.funding
    assert m.per_symbol["BTCUSDT"].funding == Decimal("-0.105")


def test_without_settlements_funding_is_zero_and_said_so() -> None:
    result = Backtest(_Script()).run(CANDLES)
    assert result.funding == 0 and not result.funding_modelled
    assert result.final_equity == Decimal("10049.2025")  # the same trades, no funding
    assert not compute(result, bar_seconds=3600).funding_modelled
