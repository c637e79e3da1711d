"""REST ``/v5/...``: routing, signature checks, rate limits, the Bybit envelope.

The signature is checked over the raw query string (the bytes after ``?`` exactly as
received) or the raw body, never over a re-serialisation. Every failure is a JSON
envelope with a documented retCode; nothing here may answer 500 or hang.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from aiohttp import web

from paper_exchange.engine import ledger_log
from paper_exchange.engine.errors import ApiError, params_error
from paper_exchange.engine.models import Account
from paper_exchange.server import account_info, depth
from paper_exchange.server.appkey import EXCHANGE_KEY
from paper_exchange.server.auth import verify_rest
from paper_exchange.server.host import Host
from paper_exchange.server.validation import check_types

if TYPE_CHECKING:
    from paper_exchange.engine.exchange import Engine

log = logging.getLogger(__name__)

Params = dict[str, object]


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    private: bool
    limit: int  # requests per second per account (Bybit's default table)
    call: Callable[[Host, Account | None, Params], object]


def _e(name: str) -> Callable[[Host, Account | None, Params], object]:
    def call(ex: Host, acct: Account | None, p: Params) -> object:
        assert acct is not None
        return getattr(ex.engine, name)(acct, p)

    return call


def _books(
    query: Callable[[Engine, Account, Params], object],
) -> Callable[[Host, Account | None, Params], object]:
    """An account's own books (transaction log, closed P&L): ``ledger_log``, not the engine."""

    def call(ex: Host, acct: Account | None, p: Params) -> object:
        assert acct is not None
        return query(ex.engine, acct, p)

    return call


ENDPOINTS: dict[str, Endpoint] = {
    "/v5/order/create": Endpoint("POST", True, 10, _e("create_order")),
    "/v5/order/amend": Endpoint("POST", True, 10, _e("amend_order")),
    "/v5/order/cancel": Endpoint("POST", True, 10, _e("cancel_order")),
    "/v5/order/cancel-all": Endpoint("POST", True, 10, _e("cancel_all")),
    "/v5/order/realtime": Endpoint("GET", True, 50, _e("open_orders")),
    "/v5/order/history": Endpoint("GET", True, 50, _e("order_history")),
    "/v5/execution/list": Endpoint("GET", True, 50, _e("executions")),
    "/v5/position/list": Endpoint("GET", True, 50, _e("positions")),
    "/v5/position/set-leverage": Endpoint("POST", True, 10, _e("set_leverage")),
    "/v5/position/trading-stop": Endpoint("POST", True, 10, _e("trading_stop")),
    "/v5/account/set-margin-mode": Endpoint("POST", True, 5, _e("set_margin_mode")),
    "/v5/account/wallet-balance": Endpoint("GET", True, 50, _e("wallet")),
    "/v5/account/transaction-log": Endpoint("GET", True, 25, _books(ledger_log.transaction_log)),
    "/v5/position/closed-pnl": Endpoint("GET", True, 50, _books(ledger_log.closed_pnl)),
    # What a client (ccxt) reads once on start: server/account_info.py.
    "/v5/asset/coin/query-info": Endpoint("GET", True, 5, account_info.coin_info),
    "/v5/user/query-api": Endpoint("GET", True, 10, account_info.api_key_info),
    "/v5/account/info": Endpoint("GET", True, 50, account_info.account_info),
    "/v5/account/fee-rate": Endpoint("GET", True, 10, account_info.fee_rate),
    "/v5/account/smp-group": Endpoint("GET", True, 10, account_info.smp_group),
    "/v5/market/instruments-info": Endpoint(
        "GET", False, 0, lambda ex, _a, p: ex.instruments_info(p)
    ),
    "/v5/market/kline": Endpoint("GET", False, 0, lambda ex, _a, p: ex.kline(p)),
    "/v5/market/funding/history": Endpoint(
        "GET", False, 0, lambda ex, _a, p: ex.funding_history(p)
    ),
    "/v5/market/tickers": Endpoint("GET", False, 0, lambda ex, _a, p: ex.tickers(p)),
    "/v5/market/orderbook": Endpoint(
        "GET", False, 0, lambda ex, _a, p: depth.orderbook_rest(ex, p)
    ),
    "/v5/market/time": Endpoint("GET", False, 0, lambda ex, _a, _p: ex.server_time()),
}


#: One encoder for every reply: ``json.dumps(..., separators=...)`` builds a new one per call.
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def envelope(ex: Host, code: int, msg: str, result: object = None) -> str:
    return _dumps(
        {
            "retCode": code,
            "retMsg": msg,
            "result": {} if result is None else result,
            "retExtInfo": {},
            "time": ex.market.now_ms,
        }
    )


def _reply(
    ex: Host,
    code: int,
    msg: str,
    result: object = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        text=envelope(ex, code, msg, result),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def handle_rest(request: web.Request) -> web.Response:
    ex: Host = request.app[EXCHANGE_KEY]
    try:
        return await _handle(ex, request)
    except ApiError as exc:
        return _reply(ex, exc.code, exc.msg, status=exc.http_status)
    except Exception as exc:  # a bug must still answer in Bybit's shape, never a bare 500
        log.exception("paper exchange: unhandled error on %s", request.path)
        return _reply(ex, 10016, f"Server error: {type(exc).__name__}")


async def _handle(ex: Host, request: web.Request) -> web.Response:
    path = request.path
    endpoint = ENDPOINTS.get(path)
    if endpoint is None:
        return _reply(ex, 10017, f"Route not found: {request.method} {path}", status=404)
    if request.method != endpoint.method:
        return _reply(
            ex,
            10017,
            f"Route not found: {request.method} {path} (use {endpoint.method})",
            status=404,
        )
    ex.requests[path] += 1
    raw_target = request.raw_path
    raw_query = raw_target.split("?", 1)[1] if "?" in raw_target else ""
    body = await request.read() if request.method == "POST" else b""
    fault = ex.rest_faults.take(path)
    if fault is not None:
        fault_headers = {
            "X-Bapi-Limit": "10",
            "X-Bapi-Limit-Status": "0",
            "X-Bapi-Limit-Reset-Timestamp": str(int(time.time() * 1000) + 50),
        }
        if fault.http_status != 200:
            return _reply(
                ex,
                fault.ret_code or 10016,
                fault.message,
                status=fault.http_status,
                headers=fault_headers,
            )
        return _reply(ex, fault.ret_code, fault.message, headers=fault_headers)
    acct: Account | None = None
    headers: dict[str, str] | None = None
    if endpoint.private:
        try:
            signed = body.decode() if request.method == "POST" else raw_query
        except UnicodeDecodeError:
            raise params_error("body is not UTF-8") from None
        ex.sync_clock()  # the window is judged on the time /v5/market/time would report now
        acct = verify_rest(
            ex.engine.accounts_by_key, request.headers, signed, sim_ms=ex.market.now_ms
        )
        headers, exceeded = ex.rate_limiter.check(acct.api_key, path, endpoint.limit)
        if exceeded:
            return _reply(ex, 10006, "Too many visits!", headers=headers)
    try:
        params = _params(request.method, raw_query, body)
        if not ex.config.lenient:
            check_types(path, params)  # before the engine, as Bybit's gateway does
    except ApiError as exc:
        return _reply(ex, exc.code, exc.msg, headers=headers)
    ex.sync_clock()
    try:
        result = endpoint.call(ex, acct, params)
    except ApiError as exc:
        return _reply(ex, exc.code, exc.msg, status=exc.http_status, headers=headers)
    return _reply(ex, 0, "OK", result, headers=headers)


def _params(method: str, raw_query: str, body: bytes) -> Params:
    if method == "GET":
        try:
            return dict(parse_qsl(raw_query, keep_blank_values=True, strict_parsing=False))
        except ValueError as exc:
            raise params_error(f"query string invalid: {exc}") from None
    if not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise params_error(f"request body is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise params_error("request body must be a JSON object")
    return data
