"""The order manager: strategy intents become exchange orders, exactly once.

Every order gets an orderLinkId carrying the bot's code (``core.link_ids``); that id is
recorded in the bot's Redis DB *before* the request is sent, so a crash between send
and reply leaves a trace the next start can look up. Retries after a timeout or a
server error resend the **same** id: Bybit answers 110072 ("duplicate") when the first
attempt got through, which this module reads as "already placed". Hence retries never
double an order.

Shared-account rules (docs/architecture.md) are enforced here, once, whatever a strategy asks:
a non-exclusive bot never sends ``reduceOnly`` and never cancels orders that are not
its own (``cancel-all`` on a shared account would cancel the other bots' stops).

Rounding goes through :class:`core.instruments.Instrument`: entries below the minimums
are skipped, never rounded up; exits are floored to the step.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

import redis
from pybit.exceptions import FailedRequestError, InvalidRequestError
from requests.exceptions import RequestException

from core import redis_keys
from core.exchange.rest import classify
from core.ids import BotCode, BotId
from core.instruments import Instrument, default_instrument
from core.link_ids import LinkIdFactory
from core.link_ids import decode as decode_link_id
from core.redis_client import sync_reply
from core.retry import Jitter, backoff_delay
from core.strategy import (
    AmendStop,
    CancelOrder,
    EnterLimit,
    EnterMarket,
    ExitMarket,
    Intent,
    PlaceStop,
    PlaceTakeProfit,
    Reason,
    order_params,
)

log = logging.getLogger(__name__)

CATEGORY = "linear"
DUPLICATE_LINK_ID = 110072
ORDER_GONE = {110001, 110008, 110010}  # does not exist / completed / cancelled
# Worth the same request again: the first may or may not have reached the matcher.
_RETRYABLE_CODES = {10000, 10016, 10002, 10006, 110079}


class Outcome(StrEnum):
    PLACED = "placed"  # accepted (or found already placed)
    AMENDED = "amended"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"  # below the instrument's minimums: nothing sent
    REJECTED = "rejected"  # the exchange said no; nothing will fill
    GONE = "gone"  # amend/cancel of an order that already finished
    UNKNOWN = "unknown"  # retries exhausted: the next reconcile finds out


@dataclass
class TrackedOrder:
    """One order this bot sent, as remembered in ``bot:{id}:orders``."""

    intent_id: str
    link_id: str
    symbol: str
    kind: str  # entry | stop | take_profit | exit
    side: str
    qty: str
    reason: str
    trigger_price: str | None = None
    sibling_id: str | None = None
    filled: str = "0"
    status: str = "sending"  # sending | open | done | unknown

    @property
    def open(self) -> bool:
        return self.status in ("sending", "open", "unknown")


@dataclass
class Result:
    outcome: Outcome
    intent: Intent
    link_id: str | None = None
    detail: str = ""
    tracked: TrackedOrder | None = field(default=None, repr=False)
    #: The exchange's retCode when it refused the request (``REJECTED``, ``GONE``).
    code: int | None = None


class _Reply(NamedTuple):
    """What the exchange answered one request, after retries."""

    outcome: Outcome
    detail: str = ""
    code: int | None = None


_KINDS: dict[type, str] = {
    EnterMarket: "entry",
    EnterLimit: "entry",
    PlaceStop: "stop",
    PlaceTakeProfit: "take_profit",
    ExitMarket: "exit",
}


class OrderBook:
    """The bot's memory of its orders: Redis hash ``bot:{id}:orders``, intent id → JSON.

    :meth:`save` writes at once; :meth:`note` only indexes, and the order is written
    with the next :meth:`save` or :meth:`flush`, in the same ``HSET``. It is for what a
    restart re-derives anyway: an order's status after the exchange answered, which
    :meth:`OrderManager.reconcile` takes from the exchange's resting orders. So the
    second order of a decision (a sell after its stop's cancel) waits for one Redis
    round trip fewer."""

    def __init__(self, client: redis.Redis, bot_id: BotId) -> None:
        self._redis = client
        self._key = redis_keys.order_book(bot_id)
        self.by_intent: dict[str, TrackedOrder] = {}
        self.by_link: dict[str, TrackedOrder] = {}
        self._unwritten: dict[str, TrackedOrder] = {}

    def load(self) -> None:
        self.by_intent.clear()
        self.by_link.clear()
        self._unwritten.clear()
        for raw in sync_reply(self._redis.hvals(self._key)):
            order = TrackedOrder(**json.loads(raw))
            self._index(order)

    def save(self, order: TrackedOrder) -> None:
        """Write ``order`` now, with every order noted since the last write."""
        self.note(order)
        self.flush()

    def note(self, order: TrackedOrder) -> None:
        """Index ``order``; it reaches Redis with the next :meth:`save` or :meth:`flush`."""
        self._index(order)
        self._unwritten[order.intent_id] = order

    def flush(self) -> None:
        if not self._unwritten:
            return
        # vars(): every field is a str or None, so it is asdict() without the deep copy
        mapping = {k: json.dumps(vars(o)) for k, o in self._unwritten.items()}
        self._redis.hset(self._key, mapping=mapping)
        self._unwritten.clear()

    def forget_done(self) -> None:
        self.flush()  # nothing noted may come back after the HDEL
        done = [o.intent_id for o in self.by_intent.values() if not o.open]
        if done:
            self._redis.hdel(self._key, *done)
            for intent_id in done:
                order = self.by_intent.pop(intent_id)
                self.by_link.pop(order.link_id, None)

    def _index(self, order: TrackedOrder) -> None:
        self.by_intent[order.intent_id] = order
        self.by_link[order.link_id] = order


def new_intent_id() -> str:
    """Intent ids must survive restarts (they key the order book): random, not counters."""
    return uuid.uuid4().hex[:16]


class OrderManager:
    """Sends a bot's intents to the exchange through pybit ``HTTP``."""

    def __init__(
        self,
        http: Any,
        bot_id: BotId,
        bot_code: BotCode,
        book: OrderBook,
        instruments: Mapping[str, Instrument] | None = None,
        *,
        exclusive: bool = False,
        smp_type: str | None = None,
        attempts: int = 4,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = http
        self.bot_id = bot_id
        self.bot_code = bot_code
        self.book = book
        self.instruments: dict[str, Instrument] = dict(instruments or {})
        self.exclusive = exclusive
        #: ``smpType`` sent with every placement (``StrategyConfig.smp_type``); None: not sent.
        self.smp_type = smp_type
        self._links = LinkIdFactory(bot_code)
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep

    def instrument(self, symbol: str) -> Instrument:
        return self.instruments.get(symbol) or default_instrument(symbol)

    # --- intents ---------------------------------------------------------------------

    def execute(self, intent: Intent, *, price_hint: Decimal | None = None) -> Result:
        """Carry out one intent. ``price_hint`` (last close) checks a market order's notional."""
        match intent:
            case AmendStop():
                return self._amend(intent)
            case CancelOrder():
                return self._cancel(intent)
            case _:
                return self._place(intent, price_hint)

    def _place(self, intent: Intent, price_hint: Decimal | None) -> Result:
        params = order_params(intent)
        inst = self.instrument(intent.symbol)
        kind = _KINDS[type(intent)]
        reference = _reference_price(intent, price_hint)
        if kind == "entry":
            qty = inst.order_qty(intent.qty, reference) if reference else None  # type: ignore[union-attr,arg-type]
        else:
            qty = inst.exit_qty(intent.qty) or None  # type: ignore[union-attr,arg-type]
        if qty is None:
            log.info("skipped %s %s: below the instrument minimums", kind, intent.symbol)
            return Result(Outcome.SKIPPED, intent, detail="below minOrderQty/minNotionalValue")
        params["qty"] = str(qty)
        if isinstance(intent, EnterLimit):
            params["price"] = str(inst.limit_price(intent.side, intent.price))
        if isinstance(intent, PlaceStop):
            params["triggerPrice"] = str(inst.stop_price(intent.side, intent.trigger_price))
        if isinstance(intent, PlaceTakeProfit):
            params["triggerPrice"] = str(inst.take_profit_price(intent.side, intent.trigger_price))
        if not self.exclusive:
            params.pop("reduceOnly", None)  # shared account: the net position is not ours
        if self.smp_type is not None:
            params["smpType"] = self.smp_type

        link_id = self._links.new(intent.reason)
        tracked = TrackedOrder(
            intent_id=intent.intent_id,
            link_id=link_id,
            symbol=intent.symbol,
            kind=kind,
            side=str(params["side"]),
            qty=str(qty),
            reason=intent.reason.value,
            trigger_price=str(params["triggerPrice"]) if "triggerPrice" in params else None,
            sibling_id=getattr(intent, "sibling_id", None),
        )
        self.book.save(tracked)  # before sending: a crash now still leaves the id behind
        outcome, detail, code = self._send(
            self._http.place_order, {"category": CATEGORY, "orderLinkId": link_id, **params}
        )
        tracked.status = {
            Outcome.PLACED: "open",
            Outcome.REJECTED: "done",
            Outcome.UNKNOWN: "unknown",
        }[outcome]
        self.book.note(tracked)  # a restart's reconcile re-derives it; written with the next
        log.info(
            "%s %s %s %s qty=%s link=%s %s",
            outcome,
            kind,
            params["side"],
            intent.symbol,
            params["qty"],
            link_id,
            detail,
        )
        return Result(outcome, intent, link_id, detail, tracked, code)

    def _amend(self, intent: AmendStop) -> Result:
        tracked = self.book.by_intent.get(intent.intent_id)
        if tracked is None or not tracked.open:
            return Result(Outcome.GONE, intent, detail="no open order for this intent")
        inst = self.instrument(intent.symbol)
        params: dict[str, Any] = {
            "category": CATEGORY,
            "symbol": intent.symbol,
            "orderLinkId": tracked.link_id,
        }
        if intent.trigger_price is not None:
            rounder = inst.stop_price if tracked.kind == "stop" else inst.take_profit_price
            params["triggerPrice"] = str(rounder(tracked.side, intent.trigger_price))  # type: ignore[arg-type]
            if params["triggerPrice"] == tracked.trigger_price:
                return Result(Outcome.AMENDED, intent, tracked.link_id, "unchanged after rounding")
        if intent.qty is not None:
            params["qty"] = str(inst.exit_qty(intent.qty))
        outcome, detail, code = self._send(self._http.amend_order, params)
        if outcome is Outcome.PLACED:
            if "triggerPrice" in params:
                tracked.trigger_price = params["triggerPrice"]
                # Why the stop stands where it is now (a trailing or break-even move): its
                # link id keeps the reason it was placed with; its fill is reported with this.
                tracked.reason = intent.reason.value
            tracked.qty = params.get("qty", tracked.qty)
            outcome = Outcome.AMENDED
        elif outcome is Outcome.GONE:
            tracked.status = "done"
        self.book.save(tracked)
        return Result(outcome, intent, tracked.link_id, detail, tracked, code)

    def _cancel(self, intent: CancelOrder) -> Result:
        tracked = self.book.by_intent.get(intent.intent_id)
        if tracked is None or not tracked.open:
            return Result(Outcome.GONE, intent, detail="no open order for this intent")
        outcome, detail, code = self._send(
            self._http.cancel_order,
            {"category": CATEGORY, "symbol": tracked.symbol, "orderLinkId": tracked.link_id},
        )
        if outcome in (Outcome.PLACED, Outcome.GONE):
            tracked.status = "done"
            outcome = Outcome.CANCELLED if outcome is Outcome.PLACED else outcome
        self.book.note(tracked)  # as a placement's answer (see OrderBook)
        return Result(outcome, intent, tracked.link_id, detail, tracked, code)

    # --- the wire ----------------------------------------------------------------------

    def _send(self, call: Callable[..., Any], params: dict[str, Any]) -> _Reply:
        last = ""
        for attempt in range(self._attempts):
            try:
                call(**params)
                return _Reply(Outcome.PLACED)
            except InvalidRequestError as exc:
                code = int(exc.status_code)
                if code == DUPLICATE_LINK_ID:
                    return _Reply(Outcome.PLACED, "already placed (110072)")
                if code in ORDER_GONE:
                    return _Reply(Outcome.GONE, f"{code}: {exc.message}", code)
                if code not in _RETRYABLE_CODES:
                    return _Reply(Outcome.REJECTED, f"{code}: {exc.message}", code)
                last = str(classify(exc))
            except (FailedRequestError, RequestException) as exc:
                last = str(classify(exc))
            if attempt + 1 < self._attempts:
                # No jitter and no cap: a few attempts of one order, in the decision thread.
                self._sleep(
                    backoff_delay(attempt + 1, base=self._backoff, cap=math.inf, jitter=Jitter.NONE)
                )
        return _Reply(Outcome.UNKNOWN, f"retries exhausted: {last}")

    # --- fills, recovery, own orders -----------------------------------------------------

    def on_fill(self, link_id: str, qty: Decimal) -> list[CancelOrder]:
        """Book a fill of one of our orders; returns the sibling cancel it calls for."""
        tracked = self.book.by_link.get(link_id)
        if tracked is None:
            return []
        tracked.filled = str(Decimal(tracked.filled) + qty)
        if Decimal(tracked.filled) >= Decimal(tracked.qty):
            tracked.status = "done"
        self.book.save(tracked)
        sibling = self.book.by_intent.get(tracked.sibling_id or "")
        if tracked.kind in ("stop", "take_profit") and sibling is not None and sibling.open:
            return [CancelOrder(sibling.intent_id, sibling.symbol, Reason(tracked.reason))]
        return []

    def own_open_orders(self, symbols: Iterable[str]) -> list[dict[str, Any]]:
        """This bot's resting orders on the exchange (recognised by the code in the link id)."""
        from core.exchange.rest import iter_open_orders

        own = []
        for symbol in symbols:
            for item in iter_open_orders(self._http, symbol=symbol):
                link = decode_link_id(item.get("orderLinkId", ""))
                if link is not None and link.bot_code == self.bot_code:
                    own.append(item)
        return own

    def cancel_own(self, symbols: Iterable[str]) -> int:
        """Cancel every resting order of this bot, one by one (never cancel-all)."""
        cancelled = 0
        for item in self.own_open_orders(symbols):
            outcome = self._send(
                self._http.cancel_order,
                {
                    "category": CATEGORY,
                    "symbol": item["symbol"],
                    "orderLinkId": item["orderLinkId"],
                },
            )
            tracked = self.book.by_link.get(item["orderLinkId"])
            if tracked is not None:
                tracked.status = "done"
                self.book.save(tracked)
            cancelled += outcome.outcome is Outcome.PLACED
        return cancelled

    def reconcile(self, symbols: Iterable[str]) -> list[TrackedOrder]:
        """After a start: trust the exchange about which remembered orders still rest."""
        self.book.load()
        resting = {item["orderLinkId"] for item in self.own_open_orders(symbols)}
        for tracked in list(self.book.by_intent.values()):
            if tracked.open and tracked.link_id not in resting:
                tracked.status = "done"
                self.book.save(tracked)
            elif tracked.link_id in resting and tracked.status != "open":
                tracked.status = "open"
                self.book.save(tracked)
        self.book.forget_done()
        return [t for t in self.book.by_intent.values() if t.open]


def _reference_price(intent: Intent, hint: Decimal | None) -> Decimal | None:
    for name in ("price", "trigger_price"):
        value: Decimal | None = getattr(intent, name, None)
        if value is not None:
            return value
    return hint
