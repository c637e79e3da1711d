"""Control API ``/paper/...`` (loopback only, JSON in and out).

Routes (method path, JSON body or query, effect):

- ``GET /paper/state``
    clock, speed, last prices, accounts
- ``POST /paper/clock`` ``{"set_ms"}`` / ``{"advance_ms"}`` / ``{"speed": x or null}``
    move the simulated clock (never back)
- ``POST /paper/price`` ``{"symbol", "price", "qty"?}``
    trade at that price now: fills and triggers what it crosses (``qty`` traded: the
    flow resting limits fill from when the book is ``flow_limited``)
- ``POST /paper/liquidity`` ``{"symbol", "qty_per_level"?, "level_bps"?, "slippage_band"?,
  "growth"?, "refill_ms"?, "flow_limited"?}``: the symbol's order book (``engine/orderbook.py``)
    shape the synthetic book
- ``POST /paper/funding`` ``{"rate"?}``
    settle funding now
- ``POST /paper/rate-limits`` ``{"enabled"}``
    enforce Bybit's per-endpoint limits (10006) or not
- ``POST /paper/faults/close-sockets`` ``{"account"?, "block_ms"?}``
    close private sockets; refuse new ones for block_ms
- ``POST /paper/faults/drop`` ``{"account", "count"}``
    next N executions not pushed (still in execution/list)
- ``POST /paper/faults/duplicate`` ``{"account", "count"}``
    next N executions pushed twice
- ``POST /paper/faults/reorder`` ``{"account", "window"}``
    next N execution frames held and sent in reverse
- ``POST /paper/faults/delay`` ``{"account", "ms", "count"}``
    next N execution frames delivered ms late
- ``POST /paper/faults/rest`` ``{"count", "ret_code"?, "http_status"?, "path"?, "message"?}``
    next N REST calls fail
- ``POST /paper/faults/clear``
    remove every pending fault
- ``POST /paper/synthetic`` ``{"account", "count", "symbol"?, "rate"?, "batch"?, "link_prefix"?}``
    N real executions, pushed at ``rate``/s (0 = max)
- ``POST /paper/emission-times`` ``{"account", "record": true|false}``
    start (or stop) recording when each execution frame is written to a socket
- ``GET /paper/emission-times?account=NAME``
    ``{execId: unix time}`` recorded so far, then forgotten (recording goes on)
- ``POST /paper/manual-trade`` ``{"account", "symbol", "side", "qty", "price"?}``
    a fill with no orderLinkId
- ``GET /paper/dump?account=NAME``
    executions, orders, positions, wallet of one account
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from ipaddress import ip_address

from aiohttp import web

from paper_exchange.engine.errors import ApiError
from paper_exchange.engine.models import Account
from paper_exchange.engine.numbers import fmt, parse_decimal
from paper_exchange.engine.views import order_view, wallet_view
from paper_exchange.server.appkey import EXCHANGE_KEY
from paper_exchange.server.faults import RestFault
from paper_exchange.server.host import Host

Body = dict[str, object]
Handler = Callable[["Host", Body], Awaitable[object]]


class ControlError(Exception):
    pass


def _route(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def wrapped(request: web.Request) -> web.Response:
        remote = request.remote or ""
        try:
            loopback = ip_address(remote.split("%")[0]).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            return web.json_response({"error": "control API is loopback only"}, status=403)
        ex: Host = request.app[EXCHANGE_KEY]
        body: Body = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            try:
                data = json.loads(await request.read() or b"{}")
            except ValueError as exc:
                return web.json_response({"error": f"body is not JSON: {exc}"}, status=400)
            if not isinstance(data, dict):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
            body.update(data)
        try:
            result = await handler(ex, body)
        except (ControlError, ValueError, KeyError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        except ApiError as exc:
            return web.json_response({"error": exc.msg, "retCode": exc.code}, status=400)
        return web.json_response(result if result is not None else {"ok": True})

    return wrapped


def _account(ex: Host, body: Body, required: bool = True) -> Account | None:
    name = body.get("account")
    if name is None:
        if required:
            if len(ex.engine.accounts_by_name) == 1:
                return next(iter(ex.engine.accounts_by_name.values()))
            raise ControlError("account is required")
        return None
    acct = ex.engine.accounts_by_name.get(str(name))
    if acct is None:
        raise ControlError(f"unknown account {name!r}")
    return acct


def _int(body: Body, key: str, default: int | None = None) -> int:
    value = body.get(key, default)
    if value is None:
        raise ControlError(f"{key} is required")
    if isinstance(value, bool):
        raise ControlError(f"{key} must be an integer")
    try:
        return int(value)  # type: ignore[call-overload]  # refused below when not a number
    except (TypeError, ValueError):
        raise ControlError(f"{key} must be an integer") from None


def _symbol(ex: Host, body: Body, default: str | None = None) -> str:
    symbol = str(body.get("symbol") or default or "")
    if symbol not in ex.market.series:
        raise ControlError(f"unknown symbol {symbol!r}")
    return symbol


async def state(ex: Host, body: Body) -> object:
    ex.sync_clock()
    return {
        "now_ms": ex.market.now_ms,
        "next_funding_ms": ex.market.next_funding_ms,
        "speed": ex.clock.speed,
        "prices": {s: ex.engine.instruments[s].price_str(p) for s, p in ex.engine.prices.items()},
        "accounts": sorted(ex.engine.accounts_by_name),
        "rate_limits": ex.rate_limiter.enabled,
        "lenient": ex.config.lenient,
        "private_connections": len(ex.private_hub.all_conns),
        "subscriptions": {
            acct.name: sorted({n for c in conns for names in c.topics.values() for n in names})
            for acct, conns in ex.private_hub.conns.items()
        },
    }


async def clock(ex: Host, body: Body) -> object:
    if "speed" in body:
        speed = body["speed"]
        if speed is not None and (isinstance(speed, bool) or float(speed) < 0):  # type: ignore[arg-type]
            raise ControlError("speed must be >= 0 or null")
        ex.sync_clock()
        ex.clock.set_speed(None if speed is None else float(speed))  # type: ignore[arg-type]
        ex.clock.set(ex.market.now_ms)
        ex.clock_changed()
    if "set_ms" in body:
        ex.advance_to(_int(body, "set_ms"))
    if "advance_ms" in body:
        step = _int(body, "advance_ms")
        if step < 0:
            raise ControlError("advance_ms must be >= 0")
        ex.sync_clock()
        ex.advance_to(ex.market.now_ms + step)
    return {"now_ms": ex.market.now_ms, "speed": ex.clock.speed}


async def price(ex: Host, body: Body) -> object:
    symbol = _symbol(ex, body)
    value = parse_decimal(body.get("price"), "price", positive=True)
    qty = parse_decimal(body["qty"], "qty", positive=True) if "qty" in body else None
    ex.sync_clock()
    ex.market.set_price(symbol, value, qty)
    return {
        "symbol": symbol,
        "price": ex.engine.instruments[symbol].price_str(ex.engine.prices[symbol]),
    }


async def liquidity(ex: Host, body: Body) -> object:
    symbol = _symbol(ex, body)
    liq = ex.engine.liquidity[symbol]
    if "qty_per_level" in body:
        liq.qty_per_level = parse_decimal(body["qty_per_level"], "qty_per_level", positive=True)
    if "level_bps" in body:
        liq.level_bps = parse_decimal(body["level_bps"], "level_bps", positive=True)
    if "slippage_band" in body:
        liq.slippage_band = parse_decimal(body["slippage_band"], "slippage_band", positive=True)
    if "growth" in body:
        liq.growth = parse_decimal(body["growth"], "growth")
        if liq.growth < 0:
            raise ControlError("growth must be >= 0")
    if "refill_ms" in body:
        liq.refill_ms = max(0, _int(body, "refill_ms", 0))
    if "flow_limited" in body:
        if not isinstance(body["flow_limited"], bool):
            raise ControlError("flow_limited must be true or false")
        liq.flow_limited = body["flow_limited"]
    return {
        "symbol": symbol,
        "qty_per_level": fmt(liq.qty_per_level),
        "level_bps": fmt(liq.level_bps),
        "slippage_band": fmt(liq.slippage_band),
        "growth": fmt(liq.growth),
        "refill_ms": liq.refill_ms,
        "flow_limited": liq.flow_limited,
    }


async def funding(ex: Host, body: Body) -> object:
    rate = parse_decimal(body["rate"], "rate") if "rate" in body else None
    ex.sync_clock()
    return {"executions": ex.engine.apply_funding(rate)}


async def rate_limits(ex: Host, body: Body) -> object:
    ex.rate_limiter.enabled = bool(body.get("enabled", True))
    return {"enabled": ex.rate_limiter.enabled}


async def close_sockets(ex: Host, body: Body) -> object:
    acct = _account(ex, body, required=False)
    block_ms = _int(body, "block_ms", 0)
    if block_ms:
        ex.private_hub.blocked_until = time.monotonic() + block_ms / 1000
    closed = await ex.private_hub.close_all(acct.name if acct else None)
    return {"closed": closed}


async def drop(ex: Host, body: Body) -> object:
    acct = _account(ex, body)
    assert acct is not None
    ex.private_hub.fault(acct.name).drop += _int(body, "count")
    return {"ok": True}


async def duplicate(ex: Host, body: Body) -> object:
    acct = _account(ex, body)
    assert acct is not None
    ex.private_hub.fault(acct.name).duplicate += _int(body, "count")
    return {"ok": True}


async def reorder(ex: Host, body: Body) -> object:
    acct = _account(ex, body)
    assert acct is not None
    window = _int(body, "window")
    if window < 2:
        raise ControlError("window must be >= 2")
    ex.private_hub.fault(acct.name).reorder_window = window
    return {"ok": True}


async def delay(ex: Host, body: Body) -> object:
    acct = _account(ex, body)
    assert acct is not None
    fault = ex.private_hub.fault(acct.name)
    fault.delay_ms = _int(body, "ms")
    fault.delay_count = _int(body, "count", 1)
    return {"ok": True}


async def rest_fault(ex: Host, body: Body) -> object:
    count = _int(body, "count", 1)
    ret_code = _int(body, "ret_code", 0)
    http_status = _int(body, "http_status", 200)
    if not ret_code and http_status == 200:
        raise ControlError("give ret_code or a non-200 http_status")
    messages = {10006: "Too many visits!", 10016: "Server error", 10000: "Server Timeout"}
    ex.rest_faults.pending.append(
        RestFault(
            remaining=count,
            ret_code=ret_code,
            http_status=http_status,
            path_prefix=str(body.get("path") or "/v5/"),
            message=str(body.get("message") or messages.get(ret_code, "injected failure")),
        )
    )
    return {"ok": True}


async def clear_faults(ex: Host, body: Body) -> object:
    ex.rest_faults.pending.clear()
    for acct_name, fault in list(ex.private_hub.faults.items()):
        held = fault.flush_reorder()
        acct = ex.engine.accounts_by_name[acct_name]
        for frame in held:
            ex.private_hub._deliver(acct, frame)
    ex.private_hub.faults.clear()
    ex.private_hub.blocked_until = 0.0
    return {"ok": True}


async def synthetic(ex: Host, body: Body) -> object:
    acct = _account(ex, body)
    assert acct is not None
    symbol = _symbol(ex, body, "BTCUSDT")
    count = _int(body, "count")
    rate = float(body.get("rate", 0) or 0)  # type: ignore[arg-type]
    batch = max(1, _int(body, "batch", 100))
    prefix = str(body.get("link_prefix") or "")
    wait = bool(body.get("wait", False))

    async def run() -> int:
        sent = 0
        started = time.monotonic()
        while sent < count:
            n = min(batch, count - sent)
            rows = ex.engine.synthetic_executions(acct, symbol, n, prefix and f"{prefix}{sent}-")
            ex.private_hub.push(acct, "execution", rows)
            sent += n
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            else:
                await ex.private_hub.wait_drained(acct, 4)
        ex.engine.publish_position(acct, symbol)
        ex.engine.publish_wallet(acct)
        return sent

    if wait:
        sent = await run()
        return {"sent": sent}
    ex.spawn(run())
    return {"started": count}


async def record_emission_times(ex: Host, body: Body) -> object:
    acct = _account(ex, body)
    assert acct is not None
    record = body.get("record", True)
    if not isinstance(record, bool):
        raise ControlError("record must be true or false")
    times = ex.private_hub.emission_times
    if record:
        times.setdefault(acct.name, {})
    else:
        times.pop(acct.name, None)
    return {"account": acct.name, "recording": record}


async def emission_times(ex: Host, body: Body) -> object:
    acct = _account(ex, body)
    assert acct is not None
    record = ex.private_hub.emission_times.get(acct.name)
    if record is None:
        raise ControlError(f"emission times of {acct.name!r} are not being recorded")
    taken = dict(record)
    record.clear()
    return taken


async def manual_trade(ex: Host, body: Body) -> object:
    acct = _account(ex, body)
    assert acct is not None
    symbol = _symbol(ex, body)
    qty = parse_decimal(body.get("qty"), "qty", positive=True)
    px = parse_decimal(body["price"], "price", positive=True) if body.get("price") else None
    ex.sync_clock()
    order = ex.engine.manual_trade(acct, symbol, str(body.get("side")), qty, px)
    return {
        "orderId": order.order_id,
        "execQty": fmt(order.cum_qty),
        "avgPrice": fmt(order.avg_price),
    }


async def dump(ex: Host, body: Body) -> object:
    acct = _account(ex, body)
    assert acct is not None
    ex.sync_clock()
    eng = ex.engine
    return {
        "account": acct.name,
        "now_ms": ex.market.now_ms,
        "executions": acct.ledger.rows,
        "orders": [order_view(o, eng.instruments[o.symbol]) for o in acct.orders.values()],
        "positions": [eng.view_position(acct, p, ws=False) for p in acct.positions.values()],
        "wallet": wallet_view(acct, eng.mark_prices, eng.instruments),
    }


ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("GET", "/paper/state", state),
    ("POST", "/paper/clock", clock),
    ("POST", "/paper/price", price),
    ("POST", "/paper/liquidity", liquidity),
    ("POST", "/paper/funding", funding),
    ("POST", "/paper/rate-limits", rate_limits),
    ("POST", "/paper/faults/close-sockets", close_sockets),
    ("POST", "/paper/faults/drop", drop),
    ("POST", "/paper/faults/duplicate", duplicate),
    ("POST", "/paper/faults/reorder", reorder),
    ("POST", "/paper/faults/delay", delay),
    ("POST", "/paper/faults/rest", rest_fault),
    ("POST", "/paper/faults/clear", clear_faults),
    ("POST", "/paper/synthetic", synthetic),
    ("POST", "/paper/emission-times", record_emission_times),
    ("GET", "/paper/emission-times", emission_times),
    ("POST", "/paper/manual-trade", manual_trade),
    ("GET", "/paper/dump", dump),
)


def add_routes(app: web.Application) -> None:
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, _route(handler))

    async def unknown(request: web.Request) -> web.Response:
        known = ", ".join(f"{m} {p}" for m, p, _h in ROUTES)
        return web.json_response({"error": f"unknown control path; known: {known}"}, status=404)

    app.router.add_route("*", "/paper/{tail:.*}", unknown)


__all__ = ["ROUTES", "Decimal", "add_routes"]
