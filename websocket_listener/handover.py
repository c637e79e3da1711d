"""Executions and orders that trade sync found missing, written by the listener.

Trade sync never writes the ledger (single writer): it ``XADD``\\ s to
``core.redis_keys.HANDOVER`` in the infrastructure DB entries
``{"account", "kind": "execution"|"order", "payload": <the REST item as JSON>}``. This
consumer reads them with the group ``HANDOVER_GROUP`` (``group_reader.py``: its own
pending entries first, so a crash between read and ack loses nothing; a second write of
the same item is a no-op), feeds them to the writer with ``source='rest'``, and
``XACK``\\ s each entry only once it is committed or spooled.

Acknowledged entries are trimmed (``XTRIM MINID``), about once a second, so the stream
does not grow forever: the cut is the oldest of (now − ``retain_seconds``, every group's
oldest pending entry, every group's next undelivered entry), so an entry that is not
yet acknowledged — or not yet even read — is never removed. ``retain_seconds`` (default
an hour) keeps recent hand-overs visible to an operator (``XRANGE``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal

import redis

from core import redis_keys
from core.redis_client import sync_reply
from websocket_listener import metrics
from websocket_listener.envelope import EXECUTION, ORDER, Envelope
from websocket_listener.group_reader import GroupReader

log = logging.getLogger(__name__)

COUNT = 500
#: Acknowledged entries younger than this stay in the stream (for inspection).
RETAIN_SECONDS = 3600.0
TRIM_EVERY_SECONDS = 1.0


def _successor(entry_id: str) -> str:
    ms, _, seq = entry_id.partition("-")
    return f"{ms}-{int(seq or 0) + 1}"


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def trim_acknowledged(client: redis.Redis, retain_seconds: float) -> int:
    """``XTRIM MINID`` below every unacknowledged or undelivered entry and below
    now − ``retain_seconds``; returns the number of entries removed."""
    seconds, micros = sync_reply(client.time())  # the server's clock: the one stream ids come from
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    # Entries of the current millisecond count as "retain_seconds old" when it is 0.
    candidates = [f"{max(0, now_ms + 1 - int(retain_seconds * 1000))}-0"]
    try:
        groups = sync_reply(client.xinfo_groups(redis_keys.HANDOVER))
    except redis.ResponseError:
        return 0  # no stream yet
    for group in groups:
        name = group["name"]
        candidates.append(_successor(str(group["last-delivered-id"])))
        if group["pending"]:
            summary = sync_reply(client.xpending(redis_keys.HANDOVER, name))
            if summary.get("min"):
                candidates.append(str(summary["min"]))
    minid = min(candidates, key=_id_key)
    if minid == "0-0":
        return 0
    return int(sync_reply(client.xtrim(redis_keys.HANDOVER, minid=minid, approximate=False)))


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


class HandoverConsumer(GroupReader):
    def __init__(
        self,
        client: redis.Redis,
        put: Callable[[Envelope], None],
        *,
        retain_seconds: float = RETAIN_SECONDS,
    ) -> None:
        super().__init__(
            client, redis_keys.HANDOVER, redis_keys.HANDOVER_GROUP, count=COUNT, name="handover"
        )
        self._put = put
        self.retain_seconds = retain_seconds
        self._trim_at = 0.0

    def after_read(self) -> None:
        self._maybe_trim()

    def _maybe_trim(self) -> None:
        now = time.monotonic()
        if now < self._trim_at:
            return
        self._trim_at = now + TRIM_EVERY_SECONDS
        removed = trim_acknowledged(self._redis, self.retain_seconds)
        if removed:
            metrics.HANDOVER_TRIMMED.inc(removed)

    def handle(self, entry_id: str, fields: dict[str, str]) -> None:
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
