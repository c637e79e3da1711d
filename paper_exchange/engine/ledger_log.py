"""An account's own books: ``/v5/account/transaction-log`` and ``/v5/position/closed-pnl``.

Both are derived from the account's execution ledger (``Account.ledger``), which the
engine appends to and never rewrites, so they are built lazily: each query first folds
the rows appended since the last one. The engine's hot path pays nothing for them, and
they cannot disagree with ``execution/list``: every cash movement of a paper account is
an execution (there are no transfers), so the last ``cashBalance`` is the wallet.

Transaction log (Bybit's documented semantics, one entry per execution)
-----------------------------------------------------------------------
* ``type``: ``TRADE`` for a trade, ``SETTLEMENT`` for funding (and ``ADL``,
  ``LIQUIDATION``, ``DELIVERY`` for those execution types).
* ``cashFlow``: the realized P&L of the closed part of a trade, before fees —
  ``closedSize × (execPrice − entry price)`` for a long, the negative for a short; the
  execution's ``execPnl``. ``"0"`` for an opening trade and for funding.
* ``fee``: the trading fee, positive paid, negative rebate (the execution's ``execFee``);
  ``"0"`` for funding.
* ``funding``: positive received, negative paid — the *opposite* sign of a Funding
  execution's ``execFee``; ``""`` for a trade (as Bybit sends it).
* ``change = cashFlow + funding − fee``; ``cashBalance`` is the wallet after it.
* ``size`` is the position after the entry, signed (short is negative); ``qty`` is the
  execution's quantity without direction. ``feeRate`` for funding is the funding rate
  for a long (``side=Buy``) and its negative for a short, as documented.
* Amounts are exact (the paper wallet is not rounded); Bybit prints at most 8 decimals.

Query rules: ``startTime``/``endTime`` default to the last 24 hours; only ``startTime``
means ``[startTime, startTime + 24 h]``, only ``endTime`` ``[endTime − 24 h, endTime]``;
with both, ``endTime − startTime`` must not exceed 7 days (retCode 10001, the UTA
"request parameter error"). ``limit`` is 1..50 (default 20). Newest first, with an
opaque ``nextPageCursor``.

Closed P&L (one record per closing order)
-----------------------------------------
A record aggregates the closing fills of one order: ``closedSize``, ``cumEntryValue``
(the closed quantity at the entry price), ``cumExitValue``, ``fillCount``, and
``closedPnl = gross P&L − openFee − closeFee``. ``closeFee`` is the closing share of
each fill's fee (pro rata by quantity when a fill also opens); ``openFee`` is the
closed quantity's pro-rata share of the fees paid opening the position. Funding is not
in ``closedPnl`` here (it is its own ``SETTLEMENT`` entry in the transaction log).
``leverage`` is the position's leverage when the record is first served. Windows are
7 days (default, only-start, only-end) on the record's ``createdTime``; ``limit`` is
1..100 (default 50); ``category`` is required.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from decimal import Decimal

from paper_exchange.engine.books import Books, Closing, Holding
from paper_exchange.engine.errors import params_error
from paper_exchange.engine.models import Account
from paper_exchange.engine.numbers import ZERO, fmt, parse_int
from paper_exchange.engine.state import CATEGORIES, EngineState

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
#: ``execType`` → transaction-log ``type`` (Bybit's ``type(uta-translog)`` enum).
ENTRY_TYPES = {
    "Trade": "TRADE",
    "Funding": "SETTLEMENT",
    "AdlTrade": "ADL",
    "BustTrade": "LIQUIDATION",
    "Delivery": "DELIVERY",
}

Params = dict[str, object]


def books(engine: EngineState, acct: Account) -> Books:
    """The account's books, brought up to date with its execution ledger."""
    if acct.books is None:
        acct.books = Books(balance=acct.opening_balance)
    b = acct.books
    rows = acct.ledger.rows
    while b.consumed < len(rows):
        row = rows[b.consumed]
        b.consumed += 1
        _fold_row(engine, acct, b, row)
    return b


def _fold_row(engine: EngineState, acct: Account, b: Books, row: dict[str, object]) -> None:
    symbol = str(row["symbol"])
    inst = engine.instruments[symbol]
    holding = b._holdings.setdefault(symbol, Holding())
    exec_type = str(row["execType"])
    side = str(row["side"])
    qty = Decimal(str(row["execQty"]))
    fee = Decimal(str(row["execFee"]))
    time_ms = int(str(row["execTime"]))
    entry: dict[str, object] = {
        "id": f"{len(b.entries) + 1}_{symbol}_{row['seq']}",
        "symbol": symbol,
        "category": "linear",
        "side": side,
        "transactionTime": str(time_ms),
        "type": ENTRY_TYPES.get(exec_type, "TRADE"),
        "transSubType": "",
        "qty": str(row["execQty"]),
        "size": "",
        "currency": str(row.get("feeCurrency") or "USDT"),
        "tradePrice": str(row["execPrice"]),
        "funding": "",
        "fee": "",
        "cashFlow": "",
        "change": "",
        "cashBalance": "",
        "feeRate": str(row["feeRate"]),
        "bonusChange": "",
        "tradeId": str(row["execId"]),
        "orderId": str(row["orderId"]),
        "orderLinkId": str(row["orderLinkId"]),
        "extraFees": "",
    }
    if exec_type == "Funding":
        # The same arithmetic as the engine's ``wallet -= fee``, so cashBalance is the wallet.
        funding = -fee
        b.balance += funding
        rate = Decimal(str(row["feeRate"]))
        entry.update(
            funding=fmt(funding),
            fee="0",
            cashFlow="0",
            change=fmt(funding),
            feeRate=fmt(rate if side == "Buy" else -rate),
        )
    else:
        pnl = Decimal(str(row["execPnl"]))
        closed = Decimal(str(row["closedSize"]))
        change = pnl - fee  # the engine's ``net``
        b.balance += change
        before = holding.size
        holding.size = before + (qty if side == "Buy" else -qty)
        entry.update(fee=fmt(fee), cashFlow=fmt(pnl), change=fmt(change))
        _close(b, acct, row, holding, before, qty, closed, fee, pnl, time_ms)
    size = holding.size
    entry["size"] = ("-" if size < 0 else "") + inst.qty_str(abs(size))
    entry["cashBalance"] = fmt(b.balance)
    b.entries.append(entry)
    b.entry_times.append(time_ms)


def _close(
    b: Books,
    acct: Account,
    row: dict[str, object],
    holding: Holding,
    before: Decimal,
    qty: Decimal,
    closed: Decimal,
    fee: Decimal,
    pnl: Decimal,
    time_ms: int,
) -> None:
    """Split the fee between closing and opening, and grow the order's closed P&L record."""
    close_fee = fee if closed == qty else fee * closed / qty
    open_part_fee = fee - close_fee  # the parts always sum to the fee exactly
    open_fee = ZERO
    if closed:
        held = abs(before)
        open_fee = holding.open_fees if closed == held else holding.open_fees * closed / held
        holding.open_fees -= open_fee
    if qty > closed:
        holding.open_fees += open_part_fee
    if not closed:
        return
    exit_value = closed * Decimal(str(row["execPrice"]))
    # execPnl = closed × (exit − entry) for a long (closed by a Sell), the negative for a short.
    entry_value = exit_value - pnl if row["side"] == "Sell" else exit_value + pnl
    order_id = str(row["orderId"])
    record = b._by_order.get(order_id)
    if record is None:
        symbol = str(row["symbol"])
        record = Closing(
            created=time_ms,
            view={
                "symbol": symbol,
                "orderId": order_id,
                "side": row["side"],
                "qty": row["orderQty"],
                "orderPrice": row["orderPrice"],
                "orderType": row["orderType"],
                "execType": row["execType"],
                "closedSize": "",
                "cumEntryValue": "",
                "avgEntryPrice": "",
                "cumExitValue": "",
                "avgExitPrice": "",
                "closedPnl": "",
                "fillCount": "",
                "leverage": fmt(acct.position(symbol).leverage),
                "openFee": "",
                "closeFee": "",
                "createdTime": str(time_ms),
                "updatedTime": str(time_ms),
            },
        )
        b._by_order[order_id] = record
        b.closings.append(record)
        b.closing_times.append(time_ms)
    record.closed += closed
    record.entry_value += entry_value
    record.exit_value += exit_value
    record.open_fee += open_fee
    record.close_fee += close_fee
    record.pnl += pnl - open_fee - close_fee
    record.fills += 1
    record.refresh(time_ms)


# -- the two endpoints ---------------------------------------------------------------------


def transaction_log(engine: EngineState, acct: Account, p: Params) -> dict[str, object]:
    account_type = p.get("accountType")
    if account_type not in (None, "", "UNIFIED"):
        raise params_error("accountType only support UNIFIED")
    category = p.get("category")
    if category not in (None, "") and category not in CATEGORIES:
        raise params_error(f"category invalid: {category}")
    limit = _limit(p, 20, 50)
    start, end = _window(p, engine.now(), default=DAY_MS)
    b = books(engine, acct)
    if category not in (None, "", "linear"):
        return {"list": [], "nextPageCursor": ""}
    currency, base = p.get("currency"), p.get("baseCoin")
    entry_type, sub_type = p.get("type"), p.get("transSubType")

    def wanted(entry: dict[str, object]) -> bool:
        if currency and entry["currency"] != currency:
            return False
        if base and engine.instruments[str(entry["symbol"])].base_coin != base:
            return False
        if entry_type and entry["type"] != entry_type:
            return False
        return not (sub_type and entry["transSubType"] != sub_type)

    page, cursor = _page(b.entries, b.entry_times, start, end, p, limit, wanted)
    return {"list": page, "nextPageCursor": cursor}


def closed_pnl(engine: EngineState, acct: Account, p: Params) -> dict[str, object]:
    category = p.get("category")
    if not category:
        raise params_error("category is required")
    if category not in ("linear", "inverse"):
        raise params_error(f"category only support linear or inverse, got {category}")
    symbol = p.get("symbol")
    if symbol:
        engine.instrument(symbol)
    limit = _limit(p, 50, 100)
    start, end = _window(p, engine.now(), default=WEEK_MS)
    b = books(engine, acct)
    if category != "linear":
        return {"category": category, "list": [], "nextPageCursor": ""}
    views = [c.view for c in b.closings]

    def wanted(view: dict[str, object]) -> bool:
        return not symbol or view["symbol"] == symbol

    page, cursor = _page(views, b.closing_times, start, end, p, limit, wanted)
    return {"category": "linear", "list": page, "nextPageCursor": cursor}


# -- query helpers --------------------------------------------------------------------------


def _window(p: Params, now: int, *, default: int) -> tuple[int, int]:
    """``[start, end]`` by Bybit's rules: ``default`` wide unless both ends are given."""
    start_raw, end_raw = p.get("startTime"), p.get("endTime")
    start = parse_int(start_raw, "startTime") if start_raw not in (None, "") else None
    end = parse_int(end_raw, "endTime") if end_raw not in (None, "") else None
    if start is None and end is None:
        return now - default, now
    if start is None:
        assert end is not None
        return end - default, end
    if end is None:
        return start, start + default
    if end < start:
        raise params_error("endTime must be greater than startTime")
    if end - start > WEEK_MS:
        raise params_error("The time range between startTime and endTime cannot exceed 7 days")
    return start, end


def _limit(p: Params, default: int, maximum: int) -> int:
    limit = parse_int(p.get("limit"), "limit", default)
    if not 1 <= limit <= maximum:
        raise params_error(f"limit must be in [1, {maximum}]")
    return limit


_CURSOR_PREFIX = "idx%3D"


def _page(
    items: list[dict[str, object]],
    times: list[int],
    start: int,
    end: int,
    p: Params,
    limit: int,
    wanted: Callable[[dict[str, object]], bool],
) -> tuple[list[dict[str, object]], str]:
    """Newest first within ``[start, end]``; the cursor is the index to continue below."""
    lo, hi = bisect_left(times, start), bisect_right(times, end)
    raw = p.get("cursor")
    if raw not in (None, ""):
        text = str(raw)
        for prefix in (_CURSOR_PREFIX, "idx="):
            text = text.removeprefix(prefix)
        if not text.isdigit():
            raise params_error("cursor invalid")
        hi = min(hi, int(text))
    out: list[dict[str, object]] = []
    i = hi - 1
    while i >= lo and len(out) < limit:
        if wanted(items[i]):
            out.append(items[i])
        i -= 1
    more = len(out) == limit and any(wanted(items[j]) for j in range(i, lo - 1, -1))
    return out, f"{_CURSOR_PREFIX}{i + 1}" if more else ""
