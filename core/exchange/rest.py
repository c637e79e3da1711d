"""Typed walks over Bybit's paged REST lists, shared by listener catch-up and trade sync.

They return Bybit's items exactly as sent (dicts of strings); turning them into domain
types is ``core.exchange_parsing``'s job, and the hand-over stream must carry the raw item.

``/v5/execution/list`` and ``/v5/order/history`` (docs/bybit.md#executions): newest first,
``limit`` ≤ 100 (50 for orders), an opaque cursor, and ``endTime - startTime`` ≤ 7
days. A long range is walked as contiguous windows that *share* their edge
millisecond (whether Bybit's bounds are inclusive is not documented), and the
duplicates that sharing can produce at an edge are dropped by execId, so nothing on a
window edge is lost or yielded twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from core.exchange import redact

Item = dict[str, Any]

#: Bybit's window rule is "≤ 7 days"; a minute less keeps clear of clock rounding.
MAX_WINDOW = timedelta(days=7) - timedelta(minutes=1)
EXECUTION_PAGE = 100
ORDER_PAGE = 50
POSITION_PAGE = 200
TRANSACTION_LOG_PAGE = 50
#: A cursor seen twice means the server is looping; stop rather than spin forever.
_MAX_PAGES = 100_000

#: retCodes (and HTTP statuses) that mean "these credentials do not work here".
AUTH_CODES = frozenset({10003, 10004, 10005, 10007, 10010, 33004})
AUTH_HTTP = frozenset({401, 403})


_ORIGIN = re.compile(r"origin_string\[[^\]]*\]?")


class PagingError(RuntimeError):
    """The server's paging misbehaved (a repeated cursor)."""


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def start_ms(self) -> int:
        return to_ms(self.start)

    @property
    def end_ms(self) -> int:
        return to_ms(self.end)


@dataclass
class Page:
    """One window's worth of items (all its cursor pages), for progress reporting."""

    window: Window
    items: list[Item] = field(default_factory=list)


def to_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: exchange times are UTC, pass an aware datetime")
    return int(moment.timestamp() * 1000)


def from_ms(ms: int | str) -> datetime:
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


def windows(start: datetime, end: datetime, width: timedelta = MAX_WINDOW) -> list[Window]:
    """Contiguous windows covering ``[start, end]``, oldest first; neighbours share an edge."""
    if end < start:
        raise ValueError("end before start")
    if width <= timedelta(0) or width > timedelta(days=7):
        raise ValueError("window width must be in (0, 7 days]")
    out: list[Window] = []
    cursor = start
    while True:
        upper = min(cursor + width, end)
        out.append(Window(cursor, upper))
        if upper >= end:
            return out
        cursor = upper


def _walk(call: Any, params: dict[str, Any]) -> Iterator[Item]:
    cursor = ""
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        result = call(**query).get("result") or {}
        yield from result.get("list") or []
        cursor = result.get("nextPageCursor") or ""
        if not cursor:
            return
        if cursor in seen:
            raise PagingError(f"repeated cursor from {getattr(call, '__name__', 'endpoint')}")
        seen.add(cursor)
    raise PagingError(f"more than {_MAX_PAGES} pages")


def iter_execution_pages(
    http: HTTP,
    start: datetime,
    end: datetime,
    symbol: str | None = None,
    *,
    category: str = "linear",
    width: timedelta = MAX_WINDOW,
    exec_type: str | None = None,
) -> Iterator[Page]:
    """Every execution in ``[start, end]``, one :class:`Page` per window, oldest window first."""
    edge_ids: set[str] = set()  # execIds already yielded at the previous window's upper edge
    for window in windows(start, end, width):
        params: dict[str, Any] = {
            "category": category,
            "startTime": window.start_ms,
            "endTime": window.end_ms,
            "limit": EXECUTION_PAGE,
        }
        if symbol:
            params["symbol"] = symbol
        if exec_type:
            params["execType"] = exec_type
        page = Page(window)
        seen_here: set[str] = set()
        next_edge: set[str] = set()
        for item in _walk(http.get_executions, params):
            exec_id = str(item.get("execId", ""))
            t = _int(item.get("execTime"))
            if exec_id in seen_here or (t == window.start_ms and exec_id in edge_ids):
                continue  # duplicate within a window (unstable order) or across an edge
            seen_here.add(exec_id)
            if t == window.end_ms:
                next_edge.add(exec_id)
            page.items.append(item)
        edge_ids = next_edge
        yield page


def iter_executions(
    http: HTTP,
    start: datetime,
    end: datetime,
    symbol: str | None = None,
    **options: Any,
) -> Iterator[Item]:
    """Every execution in ``[start, end]`` (raw Bybit items), walking windows and cursors."""
    for page in iter_execution_pages(http, start, end, symbol, **options):
        yield from page.items


def iter_open_orders(
    http: HTTP,
    symbol: str | None = None,
    *,
    category: str = "linear",
    settle_coin: str = "USDT",
    open_only: int = 0,
) -> Iterator[Item]:
    """Open orders (``openOnly=0``) or the recent closed ones (``1``); linear needs a filter."""
    params: dict[str, Any] = {"category": category, "limit": ORDER_PAGE, "openOnly": open_only}
    if symbol:
        params["symbol"] = symbol
    else:
        params["settleCoin"] = settle_coin
    yield from _walk(http.get_open_orders, params)


def iter_open_orders_by_id(
    http: HTTP, order_id: str, *, category: str = "linear"
) -> Iterator[Item]:
    """One order by id from ``/v5/order/realtime`` (answers for recently closed ones too)."""
    yield from _walk(http.get_open_orders, {"category": category, "orderId": order_id})


def iter_order_history(
    http: HTTP,
    start: datetime | None,
    end: datetime | None,
    symbol: str | None = None,
    *,
    category: str = "linear",
    order_id: str | None = None,
) -> Iterator[Item]:
    """Closed orders in ``[start, end]`` (Cancelled/Rejected only kept 24 h by Bybit)."""
    if order_id:
        yield from _walk(
            http.get_order_history, {"category": category, "orderId": order_id, "limit": ORDER_PAGE}
        )
        return
    if start is None or end is None:
        raise ValueError("start and end are required unless order_id is given")
    seen: set[str] = set()
    for window in windows(start, end):
        params: dict[str, Any] = {
            "category": category,
            "startTime": window.start_ms,
            "endTime": window.end_ms,
            "limit": ORDER_PAGE,
        }
        if symbol:
            params["symbol"] = symbol
        for item in _walk(http.get_order_history, params):
            key = f"{item.get('orderId')}:{item.get('updatedTime')}"
            if key not in seen:
                seen.add(key)
                yield item


def iter_transaction_log(
    http: HTTP,
    start: datetime,
    end: datetime,
    *,
    category: str = "linear",
    currency: str = "USDT",
    account_type: str = "UNIFIED",
) -> Iterator[Item]:
    """``/v5/account/transaction-log`` entries in ``[start, end]`` (at most 7 days: Bybit's
    rule when both ends are given), every cursor page, each entry once (by ``id``)."""
    if end < start or end - start > timedelta(days=7):
        raise ValueError("a transaction-log window is 0..7 days")
    params: dict[str, Any] = {
        "accountType": account_type,
        "category": category,
        "currency": currency,
        "startTime": to_ms(start),
        "endTime": to_ms(end),
        "limit": TRANSACTION_LOG_PAGE,
    }
    seen: set[str] = set()
    for item in _walk(http.get_transaction_log, params):
        key = str(item.get("id") or "")
        if key and key in seen:
            continue
        seen.add(key)
        yield item


def positions(
    http: HTTP, symbol: str | None = None, *, category: str = "linear", settle_coin: str = "USDT"
) -> list[Item]:
    """Positions; with ``symbol`` the item comes back even at size 0, else only open ones."""
    params: dict[str, Any] = {"category": category, "limit": POSITION_PAGE}
    if symbol:
        params["symbol"] = symbol
    else:
        params["settleCoin"] = settle_coin
    return list(_walk(http.get_positions, params))


def wallet(http: HTTP, *, account_type: str = "UNIFIED", coin: str | None = None) -> list[Item]:
    """``result.list`` of ``/v5/account/wallet-balance`` (one item per account type)."""
    params: dict[str, Any] = {"accountType": account_type}
    if coin:
        params["coin"] = coin
    return list((http.get_wallet_balance(**params).get("result") or {}).get("list") or [])


def instruments(http: HTTP, *, category: str = "linear", symbol: str | None = None) -> list[Item]:
    params: dict[str, Any] = {"category": category, "limit": 1000}
    if symbol:
        params["symbol"] = symbol
    return list(_walk(http.get_instruments_info, params))


@dataclass(frozen=True)
class ErrorInfo:
    """What an operator needs to know about a failed call, without secrets."""

    #: auth | rate_limit | network | exchange | paging; trade sync adds internal (a bug)
    #: and unavailable (Redis or PostgreSQL away)
    kind: str
    code: int | None
    message: str

    def __str__(self) -> str:
        code = f" {self.code}" if self.code is not None else ""
        return f"{self.kind}{code}: {self.message}"


def _clean(message: object) -> str:
    """Bybit's 10004 text echoes the signed string, API key included: never pass it on."""
    text = _ORIGIN.sub("origin_string[…]", str(message))
    return redact.FILTER.scrub(text)[:200]


def classify(exc: BaseException) -> ErrorInfo | None:
    """Map pybit/requests exceptions to an :class:`ErrorInfo`; ``None`` if it is a bug."""
    if isinstance(exc, InvalidRequestError):
        code = int(exc.status_code)
        kind = "auth" if code in AUTH_CODES else "rate_limit" if code == 10006 else "exchange"
        return ErrorInfo(kind, code, _clean(exc.message))
    if isinstance(exc, FailedRequestError):
        code = int(exc.status_code)
        if code in AUTH_HTTP:
            return ErrorInfo("auth", code, f"HTTP {code}")
        if code == 400 and "Retries exceeded" in str(exc.message):
            return ErrorInfo("rate_limit", code, "retries exhausted (rate limit or timestamp)")
        return ErrorInfo("exchange", code, _clean(exc.message))
    if isinstance(exc, requests.exceptions.RequestException):
        return ErrorInfo("network", None, type(exc).__name__)
    if isinstance(exc, PagingError):
        return ErrorInfo("paging", None, _clean(exc))
    if isinstance(exc, PermissionError):
        return ErrorInfo("auth", None, "no API key for a private endpoint")
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
