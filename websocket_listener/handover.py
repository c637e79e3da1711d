"""Executions and orders that trade sync found missing, written by the listener.

Trade sync never writes the ledger (single writer): it ``XADD``\\ s to
``core.redis_keys.HANDOVER`` in the infrastructure DB entries
``{"account", "kind": "execution"|"order", "payload": <the REST item as JSON>}``. This
consumer reads them with the group ``HANDOVER_GROUP``, feeds them to the writer with
``source='rest'``, and ``XACK``\\ s each entry only once it is committed or spooled. On
start it first re-reads its own pending entries, so a crash between read and ack loses
nothing (a second write of the same item is a no-op).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from decimal import Decimal

import redis

from core import redis_keys
from websocket_listener import metrics
from websocket_listener.envelope import EXECUTION, ORDER, Envelope

log = logging.getLogger(__name__)

CONSUMER = "listener"
BLOCK_MS = 1000
COUNT = 500


def entry_envelope(fields: dict[str, str]) -> Envelope:
    """One stream entry → envelope; a bad entry becomes a reject (never an exception)."""
    account = fields.get("account") or ""
    kind = fields.get("kind")
    try:
        payload = json.loads(fields.get("payload", ""), parse_float=Decimal)
    except ValueError:
        payload = None
    if kind not in (EXECUTION, ORDER) or not isinstance(payload, dict) or not account:
        return Envelope(account or "?", "rest", kind or "", [], malformed=json.dumps(fields))
    return Envelope.from_rest(account, kind, payload)


class HandoverConsumer:
    def __init__(self, client: redis.Redis, put: Callable[[Envelope], None]) -> None:
        self._redis = client
        self._put = put
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="handover", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(BLOCK_MS / 1000 + 5)

    def _ensure_group(self) -> None:
        try:
            self._redis.xgroup_create(
                redis_keys.HANDOVER, redis_keys.HANDOVER_GROUP, id="0", mkstream=True
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _run(self) -> None:
        # First our own pending entries (read before a crash, never acked), page by page
        # from id 0; then new entries (">").
        cursor: str | None = "0"
        while not self._stop.is_set():
            try:
                self._ensure_group()
                reply = self._redis.xreadgroup(
                    redis_keys.HANDOVER_GROUP,
                    CONSUMER,
                    {redis_keys.HANDOVER: cursor or ">"},
                    count=COUNT,
                    block=None if cursor else BLOCK_MS,
                )
                entries = reply[0][1] if reply else []
                for entry_id, fields in entries:
                    self._hand(entry_id, fields or {})
                if cursor is not None:
                    cursor = entries[-1][0] if entries else None
            except redis.RedisError as exc:
                log.warning("hand-over stream unavailable: %s", exc)
                self._stop.wait(1.0)

    def _hand(self, entry_id: str, fields: dict[str, str]) -> None:
        env = entry_envelope(fields)
        metrics.HANDOVER_ITEMS.labels(env.topic or "bad").inc()

        def ack(entry_id: str = entry_id) -> None:
            self._redis.xack(redis_keys.HANDOVER, redis_keys.HANDOVER_GROUP, entry_id)

        self._put(
            Envelope(
                env.account,
                env.source,
                env.topic,
                env.items,
                env.received_at,
                env.malformed,
                on_durable=ack,
            )
        )
