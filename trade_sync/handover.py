"""The hand-over stream: what trade sync found missing, for the listener to write.

Entry fields (the contract with ``websocket_listener``): ``account``, ``kind``
(``execution`` | ``order``) and ``payload``, the JSON of the REST item exactly as Bybit
returned it. The listener consumes with group ``HANDOVER_GROUP``, writes with
``source='rest'`` and acks after its commit. Entries are never trimmed here: an
unconsumed entry is a fill not yet in the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import redis

from core.redis_keys import HANDOVER

Kind = Literal["execution", "order"]
#: One pipeline round trip per this many entries (a backfill hands over thousands).
_BATCH = 500


def hand_over(
    client: redis.Redis, account: str, kind: Kind, items: Iterable[Mapping[str, Any]]
) -> int:
    """XADD every item; returns how many were added."""
    count = 0
    pipe = client.pipeline(transaction=False)
    for item in items:
        payload = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
        pipe.xadd(HANDOVER, {"account": account, "kind": kind, "payload": payload})
        count += 1
        if count % _BATCH == 0:
            pipe.execute()
    pipe.execute()
    return count
