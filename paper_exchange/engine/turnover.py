"""How much each symbol trades on an ordinary day: the one number the paper market's
volume and the realistic book's depth both come from.

The generated candles carry ``daily_turnover / 1440`` USDT a minute on average (more in
a pump, less in a squeeze), so the tickers' ``turnover24h`` reports about this figure,
and the flow a resting limit fills from (``matching._fill_from_flow``) is the same
volume. The ``realistic`` depth profile rests a fixed share of a minute's turnover at the
touch (``orderbook.PROFILES``). The figures are the order of magnitude of Bybit's USDT
perpetuals: billions a day for BTC and ETH, hundreds of millions for the large alts, a
few million for a thin one — so a 1 %-risk BTC entry fills in a few pieces within a
minute, and the same USDT on a thin alt waits for the flow.
"""

from __future__ import annotations

from decimal import Decimal

MINUTES_PER_DAY = 1440

#: USDT traded per day on an ordinary day (volatility 1 in the generator's terms).
DAILY_TURNOVER_USDT: dict[str, Decimal] = {
    "BTCUSDT": Decimal(7_200_000_000),
    "ETHUSDT": Decimal(3_600_000_000),
    "SOLUSDT": Decimal(1_200_000_000),
    "XRPUSDT": Decimal(720_000_000),
    "DOGEUSDT": Decimal(450_000_000),
    "BNBUSDT": Decimal(300_000_000),
    "ADAUSDT": Decimal(200_000_000),
    "LINKUSDT": Decimal(200_000_000),
    "AVAXUSDT": Decimal(150_000_000),
    "LTCUSDT": Decimal(100_000_000),
    # Thin: under 10M a day even in a pump hour, so a 24 h turnover ranking with a 10M
    # floor (LXAlgo's) excludes them; above 20M a day in a quiet market, the others stay.
    "ZILUSDT": Decimal(6_000_000),
    "KSMUSDT": Decimal(4_000_000),
}
#: A symbol a market file brings, whose generated continuation needs a figure.
DEFAULT_DAILY_TURNOVER_USDT = Decimal(100_000_000)


def daily_turnover(symbol: str) -> Decimal:
    """USDT ``symbol`` trades on an ordinary day."""
    return DAILY_TURNOVER_USDT.get(symbol, DEFAULT_DAILY_TURNOVER_USDT)


def minute_turnover(symbol: str) -> Decimal:
    """USDT ``symbol`` trades in an ordinary minute."""
    return daily_turnover(symbol) / MINUTES_PER_DAY
