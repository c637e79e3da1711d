"""The private stream's connections and the hub that routes the engine's events to them.

Every outgoing frame of a connection goes through that connection's queue and one writer
task, so a subscribe ack always precedes the topic's first data and frames never
interleave. Consecutive execution batches are merged into one frame (``data`` is a
list, as on Bybit), which is what lets one socket carry tens of thousands of
executions per second. The socket handler is ``ws_private``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable

from aiohttp import web

from paper_exchange.engine.models import Account
from paper_exchange.server.faults import ExecFaults

log = logging.getLogger(__name__)

BASE_TOPICS = ("execution", "execution.fast", "order", "position", "wallet")
#: Subscribable names → the engine topic they carry.
TOPIC_NAMES: dict[str, str] = {}
for _base in BASE_TOPICS:
    TOPIC_NAMES[_base] = _base
    TOPIC_NAMES[f"{_base}.linear"] = _base
SUBSCRIBE_ACK_DELAY = (
    0.025  # pybit stores its req_id only after sending: ack later (docs/bybit.md#pybit-sockets)
)
MAX_ITEMS_PER_FRAME = 200
FAST_FIELDS = (
    "category",
    "symbol",
    "execId",
    "execPrice",
    "execQty",
    "orderId",
    "isMaker",
    "orderLinkId",
    "side",
    "execTime",
    "seq",
)
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class PrivateConn:
    def __init__(
        self, ws: web.WebSocketResponse, conn_id: str,
        emission_times: dict[str, dict[str, float]] | None = None,
    ) -> None:  # fmt: skip
        self.ws = ws
        self.conn_id = conn_id
        self._emission_times = emission_times if emission_times is not None else {}
        self.account: Account | None = None
        self.topics: dict[str, set[str]] = {}  # engine topic -> subscribed names
        self.queue: deque[tuple[str, object]] = deque()
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()
        self.drained.set()
        self._ids = itertools.count(1)

    def send_raw(self, payload: dict[str, object]) -> None:
        self.queue.append(("", _dumps(payload)))
        self.wake.set()
        self.drained.clear()

    def enqueue(self, topic: str, items: list[dict[str, object]]) -> None:
        self.queue.append((topic, items))
        self.wake.set()
        self.drained.clear()

    async def writer(self, now_ms: Callable[[], int]) -> None:
        ws = self.ws
        queue = self.queue
        while not ws.closed:
            await self.wake.wait()
            self.wake.clear()
            while queue:
                topic, payload = queue.popleft()
                if not topic:
                    await ws.send_str(payload)  # type: ignore[arg-type]
                    continue
                items = list(payload)  # type: ignore[call-overload]
                # the rows' JSON when the engine made it with them (EncodedRows), else None
                parts = getattr(payload, "json", None)
                if topic == "execution":
                    if parts is not None:
                        parts = list(parts)
                    while queue and queue[0][0] == "execution" and len(items) < MAX_ITEMS_PER_FRAME:
                        more: list[dict[str, object]] = queue.popleft()[1]  # type: ignore[assignment]
                        if parts is not None:
                            more_json = getattr(more, "json", None)
                            parts.extend(more_json or [_dumps(row) for row in more])
                        items.extend(more)
                if topic == "execution" and self.account is not None:
                    record = self._emission_times.get(self.account.name)
                    if record is not None:
                        emitted = time.time()
                        for row in items:
                            record.setdefault(row["execId"], emitted)
                rows_json = None
                for name in self.topics.get(topic, ()):
                    if topic == "execution.fast":
                        fast = _fast(items)
                        if not fast:
                            continue
                        next(self._ids)  # numbered like every frame, but Bybit sends no id here
                        head = f'{{"topic":{_dumps(name)},'
                        rows = ",".join([_dumps(row) for row in fast])
                    else:
                        head = f'{{"id":"{self.conn_id}-{next(self._ids)}","topic":{_dumps(name)},'
                        if rows_json is None:
                            rows_json = ",".join(parts or [_dumps(row) for row in items])
                        rows = rows_json
                    # byte for byte what _dumps({id?, topic, creationTime, data}) would write
                    await ws.send_str(f'{head}"creationTime":{now_ms()},"data":[{rows}]}}')
            self.drained.set()


def _fast(items: list[dict[str, object]]) -> list[dict[str, object]]:
    out = []
    for row in items:
        if row.get("execType") != "Trade":
            continue
        fast = {k: row[k] for k in FAST_FIELDS}
        if row.get("isMaker"):
            fast["orderLinkId"] = ""  # Bybit's fast stream never carries a maker's link id
        out.append(fast)
    return out


class PrivateHub:
    """The engine's event sink: fans account events out to that account's sockets."""

    def __init__(self, now_ms: Callable[[], int]) -> None:
        self.now_ms = now_ms
        self.conns: dict[Account, set[PrivateConn]] = {}
        self.faults: dict[str, ExecFaults] = {}
        self.all_conns: set[PrivateConn] = set()
        self.blocked_until = 0.0
        #: Account name → {execId: wall time its frame was first handed to a socket},
        #: for the accounts being recorded (``/paper/emission-times``): a client measures
        #: its latency from the exchange's emission without a socket of its own.
        self.emission_times: dict[str, dict[str, float]] = {}

    # EventSink
    def wants(self, account: Account, topic: str) -> bool:
        conns = self.conns.get(account)
        if not conns:
            return False
        if topic == "execution":
            return any(c.topics.get("execution") or c.topics.get("execution.fast") for c in conns)
        return any(c.topics.get(topic) for c in conns)

    def push(self, account: Account, topic: str, items: list[dict[str, object]]) -> None:
        conns = self.conns.get(account)
        if topic == "execution":
            fault = self.faults.get(account.name)
            if fault is not None and fault.active():
                for delay, frame in fault.apply(items):
                    if delay:
                        loop = asyncio.get_running_loop()
                        loop.call_later(delay / 1000, self._deliver, account, frame)
                    else:
                        self._deliver(account, frame)
                if fault.reorder_window and fault.reorder_buffer:
                    self._schedule_reorder_flush(account, fault)
                return
        if conns:
            self._fan_out(conns, topic, items)

    def _deliver(self, account: Account, items: list[dict[str, object]]) -> None:
        conns = self.conns.get(account)
        if conns:
            self._fan_out(conns, "execution", items)

    @staticmethod
    def _fan_out(conns: set[PrivateConn], topic: str, items: list[dict[str, object]]) -> None:
        for conn in conns:
            if topic in conn.topics:
                conn.enqueue(topic, items)
            if topic == "execution" and "execution.fast" in conn.topics:
                conn.enqueue("execution.fast", items)

    def _schedule_reorder_flush(self, account: Account, fault: ExecFaults) -> None:
        # A window that never fills would hold executions forever; flush after a second.
        def flush() -> None:
            if fault.reorder_buffer:
                for frame in fault.flush_reorder():
                    self._deliver(account, frame)

        asyncio.get_running_loop().call_later(1.0, flush)

    def fault(self, account: str) -> ExecFaults:
        return self.faults.setdefault(account, ExecFaults())

    async def wait_drained(self, account: Account, max_pending: int) -> None:
        for conn in list(self.conns.get(account, ())):
            while len(conn.queue) > max_pending and not conn.ws.closed:
                conn.drained.clear()
                await conn.drained.wait()

    async def close_all(self, account: str | None = None) -> int:
        targets = [
            c
            for c in list(self.all_conns)
            if account is None or (c.account and c.account.name == account)
        ]
        for conn in targets:
            await conn.ws.close(code=1000, message=b"closed by paper exchange control")
        return len(targets)

    def _attach(self, conn: PrivateConn, account: Account) -> None:
        self.conns.setdefault(account, set()).add(conn)

    def _detach(self, conn: PrivateConn) -> None:
        self.all_conns.discard(conn)
        if conn.account is not None:
            conns = self.conns.get(conn.account)
            if conns is not None:
                conns.discard(conn)
