"""A partially filled entry is protected for exactly what filled.

The book is thin: ShortSeller's market entry meets one level inside the market-order
band, fills part of its quantity and the rest is cancelled (Bybit's market orders are
IOC). The stop and take profit must cover the filled quantity, not the requested one.
"""

from __future__ import annotations

from decimal import Decimal

from tests.bots.e2e.harness import SYMBOL, D, stack
from tests.bots.e2e.test_e2e_shortseller import CONFIG, _bars


def test_partial_market_entry_gets_a_stop_for_the_filled_quantity(database, redis, tmp_path):
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        # One level of 0.05 BTC inside a band too narrow to reach the next one.
        s.ex.control.post(
            "/paper/liquidity", symbol=SYMBOL, qty_per_level="0.05", slippage_band="0.00005"
        )
        s.register("ss_part", "sp1", "shortseller", CONFIG, redis_db=1)
        s.start_bot("ss_part")

        s.play()  # the cross bar closes: market sell of 0.117 at the next bar's open
        filled = Decimal("0.050")
        assert s.qty("ss_part") == -filled
        entry = [o for o in s.orders() if o["orderLinkId"].startswith("sp1-en")]
        assert len(entry) == 1 and entry[0]["orderStatus"] == "Cancelled"
        assert D(entry[0]["qty"]) == Decimal("0.117") and D(entry[0]["cumExecQty"]) == filled
        resting = {o["orderLinkId"].split("-")[1]: o for o in s.open_orders("ss_part")}
        assert set(resting) == {"sl", "tp"}
        assert D(resting["sl"]["qty"]) == D(resting["tp"]["qty"]) == filled
        fills = s.fills("ss_part")
        assert [(f.side, f.reason, f.qty) for f in fills] == [("Sell", "entry", filled)]
