"""When a stop, take profit or market exit that started filling is finished on the exchange.

A protective order can end with the bot's trade still holding something: on a thin book
a triggered stop walks the levels inside its price band and Bybit cancels the rest (a
market order is IOC), and a stop that triggered before its quantity was grown to a later
entry piece fills only what it covered. That leftover has no stop any more, so it must
be closed the moment the order is over — not on the next bar. A market exit can end
short the same way, and its rest is sent again.

The bot hears of its fills, not of its orders' states; the listener records every order
update in ``trading.orders``. So the host watches each of these orders from its first
fill on, and while any is watched asks the ledger (one query, on every wake-up of
the decision loop, at most every :data:`CHECK_SECONDS`) whether it is finished. It counts
as finished once its state is final *and* the bot has handled every fill of it (its
cumulative quantity is what the bot has seen): only then is the strategy's idea of what
it still holds exact, and the leftover it closes is never more than is held.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import psycopg

from core.db import KeptConnection
from core.ids import BotId
from core.orders import TrackedOrder

log = logging.getLogger(__name__)

#: Order states after which no more fills come (``trading.orders.status``).
FINAL = ("Filled", "Cancelled", "Deactivated", "Rejected", "PartiallyFilledCanceled")
#: How often the ledger is asked while an exit is watched.
CHECK_SECONDS = 0.2
#: How long an order is watched at most: its final state reaches the ledger within
#: seconds; one that never does (a listener gap) is left to the next restart's adoption.
WATCH_SECONDS = 600.0
#: The bot's closing order kinds (``TrackedOrder.kind``): its protective orders, and its
#: market exits, which can end short the same way (IOC on a thin book).
EXIT_KINDS = ("stop", "take_profit", "exit")


class ExitEnds:
    """The stops, take profits and market exits of one bot that filled and may not be
    finished yet."""

    def __init__(self, reads: KeptConnection, bot_id: BotId) -> None:
        self._reads = reads
        self._bot_id = bot_id
        self.watched: dict[str, TrackedOrder] = {}  # link id -> order
        self._since: dict[str, float] = {}  # link id -> when it was first watched
        self._last = 0.0

    def filled(self, tracked: TrackedOrder | None) -> None:
        """One fill of ``tracked`` reached the strategy: watch it if it is an exit."""
        if tracked is not None and tracked.kind in EXIT_KINDS:
            self.watched[tracked.link_id] = tracked
            self._since.setdefault(tracked.link_id, time.monotonic())

    def forget(self, link_id: str) -> None:
        self.watched.pop(link_id, None)
        self._since.pop(link_id, None)

    def finished(self, *, force: bool = False) -> list[TrackedOrder]:
        """The watched orders now finished with every fill handled (then no longer
        watched). Asks the ledger at most every :data:`CHECK_SECONDS` unless ``force``;
        an unreadable ledger answers nothing (the next wake-up asks again)."""
        if not self.watched:
            return []
        now = time.monotonic()
        if not force and now - self._last < CHECK_SECONDS:
            return []
        self._last = now
        for link in [k for k, t0 in self._since.items() if now - t0 > WATCH_SECONDS]:
            log.warning("exit order %s: no final state in the ledger after %.0f s; not "
                        "watched any more", link, WATCH_SECONDS)  # fmt: skip
            self.forget(link)
        if not self.watched:
            return []
        try:
            with self._reads.use() as conn:
                rows = conn.execute(
                    "SELECT order_link_id, status, cum_exec_qty FROM trading.orders"
                    " WHERE bot_id = %s AND order_link_id = ANY(%s) AND status = ANY(%s)",
                    (self._bot_id, list(self.watched), list(FINAL)),
                ).fetchall()
        except psycopg.Error as exc:
            log.warning("could not read this bot's exit order states from the ledger: %s", exc)
            return []
        done: list[TrackedOrder] = []
        for link, status, cum in rows:
            tracked = self.watched[link]
            seen = Decimal(tracked.filled)
            if Decimal(cum) > seen:
                continue  # a fill of it is still on its way to the bot: wait for it
            self.forget(link)
            log.info(
                "%s %s %s (link %s) finished: %s, %s filled of %s",
                tracked.kind, tracked.side, tracked.symbol, link, status, cum, tracked.qty,
            )  # fmt: skip
            done.append(tracked)
        return done
