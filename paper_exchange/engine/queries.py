"""Queries: open orders, order history, executions, positions and the wallet, with
Bybit's time windows, limits and cursors."""

from __future__ import annotations

from collections.abc import Iterable

from paper_exchange.engine.errors import params_error
from paper_exchange.engine.models import Account, Order
from paper_exchange.engine.numbers import parse_int
from paper_exchange.engine.state import EngineState, empty_page, other_category
from paper_exchange.engine.views import order_view, wallet_view

#: ``position/list`` documents no ``spot``: there are no spot positions.
POSITION_CATEGORIES = ("linear", "inverse", "option")
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS


class Queries(EngineState):
    def open_orders(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        if other := other_category(p):
            return empty_page(other)
        by_id, by_link = p.get("orderId"), p.get("orderLinkId")
        symbol, base, settle = p.get("symbol"), p.get("baseCoin"), p.get("settleCoin")
        if not (by_id or by_link or symbol or base or settle):
            raise params_error("symbol, baseCoin or settleCoin is required")
        limit = _limit(p, 20, 50)
        if by_id or by_link:
            order = acct.orders.get(str(by_id)) if by_id else acct.link_ids.get(str(by_link))
            found = [order] if order is not None else []
        else:
            open_only = parse_int(p.get("openOnly"), "openOnly", 0)
            if open_only == 0:
                source: Iterable[Order] = reversed(list(acct.open_orders.values()))
            else:
                closed = [o for o in reversed(acct.orders.values()) if not o.is_open]
                source = closed[:500]
            found = [o for o in source if self._matches(o, symbol, base)]
            found = _filter_kind(found, p.get("orderFilter"))
        return self._page_orders(found, p, limit)

    def order_history(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        if other := other_category(p):
            return empty_page(other)
        limit = _limit(p, 20, 50)
        by_id, by_link = p.get("orderId"), p.get("orderLinkId")
        symbol, base = p.get("symbol"), p.get("baseCoin")
        start, end = self._window(p)
        now = self.now()
        found: list[Order] = []
        for o in reversed(acct.orders.values()):
            if by_id and o.order_id != by_id:
                continue
            if by_link and o.link_id != by_link:
                continue
            if not (by_id or by_link) and not self._matches(o, symbol, base):
                continue
            if not (start <= o.created <= end):
                continue
            unfilled_end = o.status in ("Cancelled", "Rejected", "Deactivated") and not o.cum_qty
            if unfilled_end and now - o.updated > DAY_MS:
                continue  # Bybit keeps unfilled cancelled orders for 24 h only
            status = p.get("orderStatus")
            if status and o.status != status:
                continue
            found.append(o)
        found = _filter_kind(found, p.get("orderFilter"))
        return self._page_orders(found, p, limit)

    def executions(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        if other := other_category(p):
            return empty_page(other)
        limit = _limit(p, 50, 100)
        by_id, by_link = p.get("orderId"), p.get("orderLinkId")
        symbol, base = p.get("symbol"), p.get("baseCoin")
        exec_type = p.get("execType")
        start, end = self._window(p)
        ledger = acct.ledger
        lo, hi = ledger.index_range(start, end)
        cursor = _cursor(p)
        if cursor is not None:
            hi = min(hi, cursor)
        rows: list[dict[str, object]] = []
        i = hi - 1
        while i >= lo and len(rows) < limit:
            row = ledger.rows[i]
            i -= 1
            if by_id or by_link:
                if by_id and row["orderId"] != by_id:
                    continue
                if not by_id and row["orderLinkId"] != by_link:
                    continue
            else:
                if symbol and row["symbol"] != symbol:
                    continue
                if base and not str(row["symbol"]).startswith(str(base)):
                    continue
            if exec_type and row["execType"] != exec_type:
                continue
            rows.append(row)
        more = False
        if len(rows) == limit:
            # Look ahead one matching row so the last page ends with an empty cursor.
            j = i
            while j >= lo:
                row = ledger.rows[j]
                if _row_matches(row, by_id, by_link, symbol, base, exec_type):
                    more = True
                    break
                j -= 1
        return {
            "category": "linear",
            "list": rows,
            "nextPageCursor": f"page%3D{i + 1}" if more else "",
        }

    def positions(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        if other := other_category(p, POSITION_CATEGORIES):
            return empty_page(other)
        symbol, settle = p.get("symbol"), p.get("settleCoin")
        limit = _limit(p, 20, 200)
        if symbol:
            inst = self.instrument(symbol)
            items = [self.view_position(acct, acct.position(inst.symbol), ws=False)]
        elif settle:
            if settle != "USDT":
                items = []
            else:
                items = [
                    self.view_position(acct, pos, ws=False)
                    for pos in acct.positions.values()
                    if pos.size
                ]
        else:
            raise params_error("symbol or settleCoin is required")
        offset = _cursor(p) or 0
        page = items[offset : offset + limit]
        more = offset + limit < len(items)
        return {
            "category": "linear",
            "list": page,
            "nextPageCursor": f"page%3D{offset + limit}" if more else "",
        }

    def wallet(self, acct: Account, p: dict[str, object]) -> dict[str, object]:
        account_type = p.get("accountType")
        if account_type not in ("UNIFIED", "CONTRACT"):
            raise params_error("accountType only support UNIFIED")
        view = wallet_view(acct, self.mark_prices, self.instruments)
        coins = p.get("coin")
        if coins and "USDT" not in str(coins).split(","):
            view["coin"] = []
        return {"list": [view]}

    def _matches(self, o: Order, symbol: object, base: object) -> bool:
        if symbol:
            return o.symbol == symbol
        if base:
            return self.instruments[o.symbol].base_coin == base
        return True

    def _window(self, p: dict[str, object]) -> tuple[int, int]:
        start_raw, end_raw = p.get("startTime"), p.get("endTime")
        now = self.now()
        start = parse_int(start_raw, "startTime") if start_raw not in (None, "") else None
        end = parse_int(end_raw, "endTime") if end_raw not in (None, "") else None
        if start is None and end is None:
            return now - WEEK_MS, now
        if start is None:
            assert end is not None
            return end - WEEK_MS, end
        if end is None:
            return start, start + WEEK_MS
        if end < start:
            raise params_error("endTime must be greater than startTime")
        if end - start > WEEK_MS:
            raise params_error(
                "The time range between startTime and endTime must not exceed 7 days"
            )
        return start, end

    def _page_orders(
        self, found: list[Order], p: dict[str, object], limit: int
    ) -> dict[str, object]:
        offset = _cursor(p) or 0
        page = found[offset : offset + limit]
        more = offset + limit < len(found)
        return {
            "category": "linear",
            "list": [order_view(o, self.instruments[o.symbol]) for o in page],
            "nextPageCursor": f"page%3D{offset + limit}" if more else "",
        }


def _limit(p: dict[str, object], default: int, maximum: int) -> int:
    limit = parse_int(p.get("limit"), "limit", default)
    if not 1 <= limit <= maximum:
        raise params_error(f"limit must be in [1, {maximum}]")
    return limit


def _cursor(p: dict[str, object]) -> int | None:
    raw = p.get("cursor")
    if raw in (None, ""):
        return None
    text = str(raw)
    for prefix in ("page%3D", "page="):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    if not text.isdigit():
        raise params_error("cursor invalid")
    return int(text)


def _filter_kind(orders: list[Order], order_filter: object) -> list[Order]:
    if order_filter in (None, ""):
        return orders
    if order_filter == "Order":
        return [o for o in orders if o.stop_order_type == "UNKNOWN"]
    if order_filter == "StopOrder":
        return [o for o in orders if o.stop_order_type != "UNKNOWN"]
    raise params_error("orderFilter invalid")


def _row_matches(
    row: dict[str, object],
    by_id: object,
    by_link: object,
    symbol: object,
    base: object,
    exec_type: object,
) -> bool:
    if by_id or by_link:
        if by_id and row["orderId"] != by_id:
            return False
        if not by_id and row["orderLinkId"] != by_link:
            return False
    else:
        if symbol and row["symbol"] != symbol:
            return False
        if base and not str(row["symbol"]).startswith(str(base)):
            return False
    return not (exec_type and row["execType"] != exec_type)
