"""The bot's own fills as the listener publishes them (``fills:{bot}``): recognising a
redelivery and turning the stream entry into the strategy's :class:`FillEvent`.

The consumer group redelivers whatever was not acknowledged before a crash, and the
strategy must see each fill once; a sorted set of seen exec ids (scored by when they were
seen) makes a redelivery harmless.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

import redis

from bots.runtime.ledger_view import decimal_or_zero
from core import redis_keys
from core.ids import BotId
from core.strategy import FillEvent, Reason

#: A redelivery comes within minutes; a week of exec ids is plenty to recognise it.
SEEN_FILLS_SECONDS = 7 * 86400


def first_delivery(bot_redis: redis.Redis, bot_id: BotId, exec_id: str, *, prune: bool) -> bool:
    """Whether ``exec_id`` is new to this bot (and mark it seen). ``prune`` also drops
    the ids older than :data:`SEEN_FILLS_SECONDS`: the caller does it now and then."""
    seen = redis_keys.seen_fills(bot_id)
    marked = time.time()
    first_time = bot_redis.zadd(seen, {exec_id: marked}, nx=True) == 1
    if not first_time:
        # Seen before, or marked by this very call: when a connection breaks after the
        # ZADD ran but before its reply, the client sends it again (a bot's client waits
        # out a Redis restart, core/redis_client.py), and the second finds the first's
        # mark. Its own score tells them apart; a redelivery was marked at another time.
        first_time = bot_redis.zscore(seen, exec_id) == marked
    if first_time and prune:
        bot_redis.zremrangebyscore(seen, 0, time.time() - SEEN_FILLS_SECONDS)
    return first_time


def fill_event(fields: Mapping[str, str], intent_id: str | None) -> FillEvent:
    """The strategy's view of one fill entry; an unknown reason counts as manual."""
    try:
        reason = Reason.parse(fields.get("reason") or "manual")
    except ValueError:
        reason = Reason.MANUAL
    return FillEvent(
        symbol=fields["symbol"],
        side=fields["side"],  # type: ignore[arg-type]
        price=Decimal(fields["exec_price"]),
        qty=Decimal(fields["exec_qty"]),
        fee=decimal_or_zero(fields.get("exec_fee")),
        reason=reason,
        order_link_id=fields.get("order_link_id", ""),
        exec_time=datetime.fromisoformat(fields["exec_time"]),
        intent_id=intent_id,
    )
