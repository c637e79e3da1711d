"""Public WebSocket ``/v5/public/linear``: ``kline.{interval}.{symbol}``,
``tickers.{symbol}`` and ``orderbook.{depth}.{symbol}`` (``depth.py``).

After every market step the hub pushes, for each subscribed kline topic, one
``confirm: true`` update per candle that closed since the last push, then the forming
candle (``confirm: false``). Tickers, as Bybit sends them for linear contracts: one
``snapshot`` on subscribe, then a ``delta`` holding ``symbol`` and only the fields that
changed (a client merges them, as pybit does), none while nothing changed.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import web

from paper_exchange.engine.numbers import fmt
from paper_exchange.server import depth
from paper_exchange.server.appkey import EXCHANGE_KEY
from paper_exchange.server.host import Host
from paper_exchange.server.ws_loop import serve_connection

if TYPE_CHECKING:
    from paper_exchange.market.series import KlineRow, Series

INTERVALS_MS: dict[str, int] = {
    "1": 60_000,
    "3": 180_000,
    "5": 300_000,
    "15": 900_000,
    "30": 1_800_000,
    "60": 3_600_000,
    "120": 7_200_000,
    "240": 14_400_000,
    "360": 21_600_000,
    "720": 43_200_000,
    "D": 86_400_000,
    "W": 604_800_000,
}
SUBSCRIBE_ACK_DELAY = 0.025
MAX_CONFIRMS_PER_PUSH = 500
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def kline_item(
    series: Series, interval: str, row: KlineRow, confirm: bool, ts: int
) -> dict[str, object]:
    start, o, h, lo, c, v = row
    iv = INTERVALS_MS[interval]
    inst = series.inst
    volume = v * inst.qty_step
    close = series.price(c)
    return {
        "start": start,
        "end": start + iv - 1,
        "interval": interval,
        "open": inst.price_str(series.price(o)),
        "close": inst.price_str(close),
        "high": inst.price_str(series.price(h)),
        "low": inst.price_str(series.price(lo)),
        "volume": fmt(volume),
        "turnover": fmt(volume * close),
        "confirm": confirm,
        "timestamp": min(ts, start + iv - 1),
    }


def ticker_update(
    sent: dict[str, object] | None, view: dict[str, object]
) -> tuple[str, dict[str, object] | None]:
    """``("snapshot", view)`` first, then ``("delta", changed fields)``, or ``(_, None)``
    when nothing changed since ``sent``."""
    if sent is None:
        return "snapshot", view
    changed = {k: v for k, v in view.items() if sent.get(k) != v}
    if not changed:
        return "delta", None
    return "delta", {"symbol": view["symbol"], **changed}


class PublicConn:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.conn_id = str(uuid.uuid4())
        self.topics: set[str] = set()
        self.queue: deque[str] = deque()
        self.wake = asyncio.Event()

    def send(self, payload: dict[str, object]) -> None:
        self.queue.append(_dumps(payload))
        self.wake.set()

    async def writer(self) -> None:
        while not self.ws.closed:
            await self.wake.wait()
            self.wake.clear()
            while self.queue:
                await self.ws.send_str(self.queue.popleft())


class PublicHub:
    def __init__(self, exchange: Host) -> None:
        self.ex = exchange
        self.conns: set[PublicConn] = set()
        self._last_bucket: dict[tuple[PublicConn, str], int] = {}
        #: The ticker each connection was last sent, to send only what changed.
        self._last_ticker: dict[tuple[PublicConn, str], dict[str, object]] = {}
        self._depth: dict[tuple[PublicConn, str], depth.DepthStream] = {}

    def valid_topic(self, topic: object) -> bool:
        if not isinstance(topic, str):
            return False
        parts = topic.split(".")
        if len(parts) == 3 and parts[0] == "kline":
            series = self.ex.market.series.get(parts[2])
            return (
                parts[1] in INTERVALS_MS
                and series is not None
                and (INTERVALS_MS[parts[1]] % series.base_ms == 0)
            )
        if parts[0] == "orderbook":
            return depth.valid_topic(self.ex, parts)
        if len(parts) == 2 and parts[0] == "tickers":
            return parts[1] in self.ex.market.series
        return False

    def on_market(self) -> None:
        for conn in list(self.conns):
            for topic in conn.topics:
                self._push(conn, topic)

    def _push(self, conn: PublicConn, topic: str) -> None:
        market = self.ex.market
        ts = market.now_ms
        parts = topic.split(".")
        if parts[0] == "orderbook":
            stream = self._depth.setdefault((conn, topic), depth.DepthStream())
            msg = stream.message(self.ex, topic)
            if msg is not None:
                conn.send(msg)
            return
        if parts[0] == "tickers":
            key = (conn, topic)
            view = self.ex.ticker(parts[1])
            kind, data = ticker_update(self._last_ticker.get(key), view)
            if data is None:
                return
            self._last_ticker[key] = view
            conn.send({"topic": topic, "type": kind, "data": data, "cs": ts, "ts": ts})
            return
        _k, interval, symbol = parts
        series = market.series[symbol]
        iv = INTERVALS_MS[interval]
        current = (series.start // iv) * iv
        key = (conn, topic)
        last = self._last_bucket.get(key)
        items: list[dict[str, object]] = []
        if last is not None and last < current:
            first = max(last, current - iv * MAX_CONFIRMS_PER_PUSH)
            for b in range(first, current, iv):
                row = series.bucket(iv, b)
                if row is not None:
                    items.append(kline_item(series, interval, row, True, ts))
        self._last_bucket[key] = current
        for item in items:
            conn.send({"topic": topic, "data": [item], "ts": ts, "type": "snapshot"})
        row = series.bucket(iv, current)
        if row is not None:
            item = kline_item(series, interval, row, False, ts)
            conn.send({"topic": topic, "data": [item], "ts": ts, "type": "snapshot"})

    def forget(self, conn: PublicConn) -> None:
        self.conns.discard(conn)
        for key in [k for k in self._last_bucket if k[0] is conn]:
            del self._last_bucket[key]
        for key in [k for k in self._last_ticker if k[0] is conn]:
            del self._last_ticker[key]
        for key in [k for k in self._depth if k[0] is conn]:
            del self._depth[key]


#: The app key of the public hub: the hub is the app's, not part of ``host.Host``.
PUBLIC_HUB_KEY = web.AppKey("public_hub", PublicHub)


async def handle_public(request: web.Request) -> web.StreamResponse:
    ex: Host = request.app[EXCHANGE_KEY]
    hub = request.app[PUBLIC_HUB_KEY]
    if request.match_info.get("category", "linear") != "linear":
        raise web.HTTPNotFound(text="only /v5/public/linear is served")
    ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
    await ws.prepare(request)
    conn = PublicConn(ws)
    hub.conns.add(conn)
    return await serve_connection(
        ws,
        conn.writer(),
        lambda text: _on_message(ex, hub, conn, text),
        lambda: hub.forget(conn),
        conn.wake,
    )


async def _on_message(ex: Host, hub: PublicHub, conn: PublicConn, text: str) -> None:
    try:
        msg = json.loads(text)
    except ValueError:
        msg = None
    if not isinstance(msg, dict):
        conn.send(
            {"success": False, "ret_msg": "invalid request", "conn_id": conn.conn_id, "op": ""}
        )
        return
    op = msg.get("op")
    reply: dict[str, object] = {"conn_id": conn.conn_id, "req_id": msg.get("req_id", ""), "op": op}
    if op == "ping":
        conn.send({**reply, "success": True, "ret_msg": "pong"})
        return
    if op in ("subscribe", "unsubscribe"):
        args = msg.get("args")
        await asyncio.sleep(SUBSCRIBE_ACK_DELAY)
        if not isinstance(args, list) or not args or not all(hub.valid_topic(a) for a in args):
            bad = (
                args if not isinstance(args, list) else [a for a in args if not hub.valid_topic(a)]
            )
            conn.send({**reply, "success": False, "ret_msg": f"Invalid topic: {bad}"})
            return
        conn.send({**reply, "success": True, "ret_msg": ""})
        for topic in args:
            if op == "subscribe":
                conn.topics.add(topic)
                ex.sync_clock()
                hub._push(conn, topic)
            else:
                conn.topics.discard(topic)
                # A new subscribe starts again with a snapshot.
                hub._depth.pop((conn, topic), None)
                hub._last_ticker.pop((conn, topic), None)
        return
    conn.send(
        {**reply, "success": False, "ret_msg": f"unknown op {op!r}", "ts": int(time.time() * 1000)}
    )
