"""Instrument rules (tick size, qty step, minimums) and the default USDT perpetuals."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from paper_exchange.engine.errors import ApiError, params_error
from paper_exchange.engine.numbers import fmt, fmt_places

E8 = Decimal(100_000_000)


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    max_mkt_qty: Decimal
    min_notional: Decimal
    max_leverage: Decimal
    start_price: Decimal
    launch_time: int = 1585526400000
    min_price: Decimal = field(default=Decimal(0))
    max_price: Decimal = field(default=Decimal(0))

    @property
    def base_coin(self) -> str:
        return self.symbol.removesuffix("USDT")

    @property
    def price_scale(self) -> int:
        return max(0, -self.tick_size.as_tuple().exponent)  # type: ignore[operator]

    @property
    def qty_scale(self) -> int:
        return max(0, -self.qty_step.as_tuple().exponent)  # type: ignore[operator]

    @property
    def lowest_price(self) -> Decimal:
        return self.min_price or self.tick_size

    @property
    def highest_price(self) -> Decimal:
        return self.max_price or self.tick_size * 19999998

    def price_str(self, price: Decimal) -> str:
        return fmt_places(price, self.price_scale)

    def qty_str(self, qty: Decimal) -> str:
        return fmt_places(qty, self.qty_scale)

    def check_price(self, price: Decimal, name: str = "price") -> None:
        if price <= 0 or price % self.tick_size != 0:
            raise params_error(
                f"{name} {fmt(price)} is not a multiple of tickSize {fmt(self.tick_size)}"
            )
        if price < self.lowest_price or price > self.highest_price:
            raise ApiError(110003, "Order price is out of permissible range")

    def check_qty(self, qty: Decimal, *, market: bool) -> None:
        """Bybit's answers for a linear contract (the error-code page documents 110017;
        the 10001 texts are the ones Bybit sends, which pybit users quote)."""
        if qty <= 0:
            raise params_error("qty must be positive")
        if qty < self.qty_step:
            raise ApiError(110017, "orderQty will be truncated to zero")
        if qty % self.qty_step != 0:
            raise ApiError(10001, "Qty invalid")
        if qty < self.min_qty:
            raise ApiError(10001, "The number of contracts exceeds minimum limit allowed")
        cap = self.max_mkt_qty if market else self.max_qty
        if qty > cap:
            # Bybit prints both quantities in units of 1e-8.
            raise ApiError(
                10001,
                "The number of contracts exceeds maximum limit allowed: too large, "
                f"order_qty:{int(qty * E8)} > max_qty:{int(cap * E8)}",
            )

    def check_notional(self, qty: Decimal, price: Decimal) -> None:
        if qty * price < self.min_notional:
            raise ApiError(
                110094,
                f"Order notional value below the lower limit {fmt(self.min_notional)} USDT",
            )

    def round_price(self, price: Decimal) -> Decimal:
        ticks = (price / self.tick_size).to_integral_value()
        return max(ticks, Decimal(1)) * self.tick_size

    def view(self) -> dict[str, object]:
        """The ``instruments-info`` item for a USDT linear perpetual."""
        return {
            "symbol": self.symbol,
            "contractType": "LinearPerpetual",
            "status": "Trading",
            "baseCoin": self.base_coin,
            "quoteCoin": "USDT",
            "launchTime": str(self.launch_time),
            "deliveryTime": "0",
            "deliveryFeeRate": "",
            "priceScale": str(self.price_scale),
            "leverageFilter": {
                "minLeverage": "1",
                "maxLeverage": fmt_places(self.max_leverage, 2),
                "leverageStep": "0.01",
            },
            "priceFilter": {
                "minPrice": self.price_str(self.lowest_price),
                "maxPrice": self.price_str(self.highest_price),
                "tickSize": self.price_str(self.tick_size),
            },
            "lotSizeFilter": {
                "maxOrderQty": self.qty_str(self.max_qty),
                "minOrderQty": self.qty_str(self.min_qty),
                "qtyStep": self.qty_str(self.qty_step),
                "postOnlyMaxOrderQty": self.qty_str(self.max_qty),
                "maxMktOrderQty": self.qty_str(self.max_mkt_qty),
                "minNotionalValue": fmt(self.min_notional),
            },
            "unifiedMarginTrade": True,
            "fundingInterval": 480,
            "settleCoin": "USDT",
            "copyTrading": "both",
            "upperFundingRate": "0.00375",
            "lowerFundingRate": "-0.00375",
            "isPreListing": False,
            "preListingInfo": None,
            "riskParameters": {"priceLimitRatioX": "0.01", "priceLimitRatioY": "0.02"},
            "symbolType": "",
            "displayName": "",
        }


def _inst(
    symbol: str, tick: str, step: str, max_qty: str, max_mkt: str, lev: str, price: str
) -> Instrument:
    return Instrument(
        symbol=symbol,
        tick_size=Decimal(tick),
        qty_step=Decimal(step),
        min_qty=Decimal(step),
        max_qty=Decimal(max_qty),
        max_mkt_qty=Decimal(max_mkt),
        min_notional=Decimal(5),
        max_leverage=Decimal(lev),
        start_price=Decimal(price),
    )


#: Rules close to Bybit's own for these perpetuals; start prices are only the seed level.
DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    _inst("BTCUSDT", "0.10", "0.001", "1190", "119", "100", "65000.00"),
    _inst("ETHUSDT", "0.01", "0.01", "7240", "724", "100", "3200.00"),
    _inst("SOLUSDT", "0.010", "0.1", "79770", "7977", "100", "150.000"),
    _inst("XRPUSDT", "0.0001", "1", "1538460", "153846", "75", "0.6000"),
    _inst("DOGEUSDT", "0.00001", "1", "23464000", "2346400", "75", "0.15000"),
    # The rest of Momentum's production universe (the ten most liquid USDT perpetuals).
    _inst("LINKUSDT", "0.001", "0.1", "179000", "17900", "50", "14.000"),
    _inst("AVAXUSDT", "0.001", "0.1", "79500", "7950", "50", "30.000"),
    _inst("BNBUSDT", "0.10", "0.01", "3900", "390", "75", "580.00"),
    _inst("ADAUSDT", "0.0001", "1", "4170000", "417000", "75", "0.4500"),
    _inst("LTCUSDT", "0.01", "0.1", "46700", "4670", "75", "80.00"),
    # Two thin alts (a few million USDT a day, ``turnover``): below LXAlgo's 10M
    # turnover threshold, so its universe ranking leaves them out.
    _inst("ZILUSDT", "0.00001", "1", "15000000", "1500000", "25", "0.02000"),
    _inst("KSMUSDT", "0.001", "0.01", "20000", "2000", "25", "25.000"),
)


def instrument_for_price(symbol: str, price: Decimal) -> Instrument:
    """Rules for a symbol a market file brings: about five significant digits of price."""
    magnitude = price.adjusted()
    tick = Decimal(1).scaleb(magnitude - 4)
    step = Decimal(10) ** max(-3, min(3, -(magnitude + 1)))
    return Instrument(
        symbol=symbol,
        tick_size=tick,
        qty_step=step,
        min_qty=step,
        max_qty=step * 10_000_000,
        max_mkt_qty=step * 1_000_000,
        min_notional=Decimal(5),
        max_leverage=Decimal(50),
        start_price=price,
    )
