"""What a bot tells its operators: one function per event, onto the ``alerts`` stream.

Every event is an ``alerts`` entry (docs/redis.md, infrastructure DB) with severity
``info``, a ``kind`` from :mod:`core.notify`, the bot id, a one-line ``text`` and the
event's figures as separate fields — money and quantities as exact decimal strings,
never floats. The Telegram C2 sends a bot's events together (``telegram_c2/alerts.py``).

* ``trade_entry`` — a fill of an entry order (one per execution: a partial fill says so);
* ``trade_exit`` — a fill of any other order of the bot, with why (``stop``,
  ``take_profit``, ``trailing``, ``flatten``, ``signal``, ``manual``, or the exchange's
  ``execType`` for an execution no order caused) and its realized P&L as the ledger folded
  it: ``analytics.fill_pnl``, ``gross_pnl − exec_fee`` of that fill (``core.positions``
  to the last digit; the fee is the counted one). When the fill ends a round trip, the
  trip's net P&L (every fee of the trip included) comes with it;
* ``order_rejected`` — the exchange refused an order, with its ``retCode``;
* ``risk_halt`` / ``risk_lift`` — a loss limit halted entries / the halt is over, with
  the market time it happened (``market_time``);
* ``flatten_done`` — the host's flatten sent its closing orders and cancelled the rest;
* ``universe`` — symbols joined or left the bot's universe.

Which of them a bot sends, and its quiet hours, are its ``"notify"`` settings
(:class:`core.notify.NotifySettings`). Publishing never raises: a failed ``XADD`` is
logged, and trading goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core import notify as kinds
from core.db import KeptConnection
from core.fills import settle_coin
from core.notify import NotifySettings
from core.strategy import AmendStop, CancelOrder, ExitMarket, FillEvent, Reason

if TYPE_CHECKING:
    from core.orders import Result, TrackedOrder

log = logging.getLogger(__name__)

Publish = Callable[[dict[str, str]], None]

#: The word an exit reason is reported as (the order's reason code, docs/link-ids.md).
EXIT_WORDS = {
    Reason.SL: "stop",
    Reason.BREAK_EVEN: "stop",
    Reason.TRAIL: "trailing",
    Reason.TP: "take_profit",
    Reason.KILL: "flatten",
    Reason.EXIT: "signal",
    Reason.TIME: "signal",
    Reason.REGIME: "signal",
    Reason.MANUAL: "manual",
}
#: How far back a round trip is looked for (fills of one bot and symbol).
TRIP_LOOKBACK = 1000


def plain(value: Decimal) -> str:
    """A Decimal in plain notation, exact, without trailing zeros (``"0"``, not ``"0E-12"``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@dataclass(frozen=True)
class Closing:
    """What the ledger's fold says about one fill (``analytics.fill_pnl``)."""

    pnl: Decimal  # realized P&L of the fill, net of its (counted) fee
    qty_after: Decimal  # the bot's signed position in the symbol after it
    trip_pnl: Decimal | None = None  # the round trip's net P&L when this fill ended it


def closing_of(reads: KeptConnection, bot_id: str, fields: Mapping[str, str]) -> Closing | None:
    """The ledger's P&L of the fill ``fields`` (a ``fills:{bot}`` entry); ``None`` when the
    analytics fold has no row for it (``analytics.fold_status`` says why) or the
    database cannot be read. The listener commits a fill and its fold row in one
    transaction before it announces the fill, so the row is there when the bot reads.

    ``reads`` is the bot's kept connection as its own role (``Role.BOT``, which may read
    ``analytics``): a bot's container holds no other role's password."""
    try:
        when = datetime.fromisoformat(fields["exec_time"])
        key = (bot_id, fields["symbol"], when, int(fields["seq"]), fields["exec_id"])
        with reads.use() as conn, conn.transaction():  # both reads agree
            row = conn.execute(
                "SELECT gross_pnl - exec_fee, qty_after, close_trip, trip_closed"
                " FROM analytics.fill_pnl WHERE bot_id = %s AND symbol = %s"
                " AND exec_time = %s AND seq = %s AND exec_id = %s",
                key,
            ).fetchone()
            if row is None:
                log.warning("fill %s has no analytics.fill_pnl row: P&L not reported",
                            fields["exec_id"])  # fmt: skip
                return None
            pnl, qty_after, trip, ended = row
            trip_pnl = _trip_pnl(conn, key, trip) if ended else None
    except Exception as exc:  # the notification goes out without its P&L
        log.warning("P&L of fill %s not read from the ledger: %s", fields.get("exec_id"), exc)
        return None
    return Closing(pnl, qty_after, trip_pnl)


def _trip_pnl(conn: Any, key: tuple[Any, ...], trip: int) -> Decimal | None:
    """Net P&L of round trip ``trip``, which the fill ``key`` ended: its closing parts'
    gross P&L less every fee share charged to it (as ``analytics.round_trips`` sums it),
    read backwards from that fill to the one that opened the trip."""
    rows = conn.execute(
        "SELECT qty_before, open_trip, close_trip, gross_pnl, open_fee, close_fee"
        " FROM analytics.fill_pnl WHERE bot_id = %s AND symbol = %s"
        " AND (exec_time, seq, exec_id) <= (%s, %s, %s)"
        " ORDER BY exec_time DESC, seq DESC, exec_id DESC LIMIT %s",
        (*key, TRIP_LOOKBACK),
    )
    total = Decimal(0)
    for qty_before, open_trip, close_trip, gross, open_fee, close_fee in rows:
        if close_trip == trip:
            total += gross - close_fee
        if open_trip == trip:
            total -= open_fee
            if qty_before == 0 or close_trip is not None:  # the fill that opened it
                return total
    return None  # longer than the look-back: the fill's own P&L is still reported


class Notifier:
    """A bot's events onto the alerts stream, as its settings allow."""

    def __init__(
        self,
        bot_id: str,
        settings: NotifySettings,
        publish: Publish,
        *,
        closing: Callable[[Mapping[str, str]], Closing | None] = lambda fields: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.bot_id = bot_id
        self.settings = settings
        self.publish = publish
        self.closing = closing
        #: Wall-clock time for the quiet hours (people sleep in real time, not market time).
        self.clock = clock

    # --- fills ----------------------------------------------------------------------

    def filled(
        self, event: FillEvent, fields: Mapping[str, str], order: TrackedOrder | None
    ) -> None:
        """One of the bot's fills (handled for the first time): an entry or an exit."""
        reason = event.reason
        if order is not None:  # an amended stop keeps its link id: the order knows better
            try:
                reason = Reason(order.reason)
            except ValueError:
                pass
        if reason is Reason.ENTRY:
            self.entry_filled(event, fields, order)
        else:
            self.exit_filled(event, fields, reason)

    def entry_filled(
        self, event: FillEvent, fields: Mapping[str, str], order: TrackedOrder | None
    ) -> None:
        if not self._wanted(kinds.TRADE_ENTRY):
            return
        unit = _unit(event.symbol)
        text = (
            f"{self.bot_id}: entry filled, {event.side} {plain(event.qty)} {event.symbol}"
            f" @ {plain(event.price)}, fee {plain(event.fee)} {unit}"
        )
        extra = {}
        if order is not None and Decimal(order.filled) < Decimal(order.qty):
            text += f" (partial: {plain(Decimal(order.filled))} of {plain(Decimal(order.qty))})"
            extra = {"order_qty": order.qty, "order_filled": order.filled}
        self._emit(kinds.TRADE_ENTRY, f"{kinds.TRADE_ENTRY}:{self.bot_id}:{fields['exec_id']}",
                   text, **_fill_fields(event, fields), **extra)  # fmt: skip

    def exit_filled(self, event: FillEvent, fields: Mapping[str, str], reason: Reason) -> None:
        if not self._wanted(kinds.TRADE_EXIT):
            return
        exec_type = fields.get("exec_type") or "Trade"
        why = EXIT_WORDS.get(reason, "signal") if exec_type == "Trade" else exec_type
        unit = _unit(event.symbol)
        text = (
            f"{self.bot_id}: exit filled ({why}), {event.side} {plain(event.qty)}"
            f" {event.symbol} @ {plain(event.price)}"
        )
        extra = {"exit_reason": why, "order_reason": reason.label}
        closing = self.closing(fields)
        if closing is None:
            text += f", fee {plain(event.fee)} {unit}, P&L not available from the ledger"
        else:
            text += f", P&L {plain(closing.pnl)} {unit} net of its fee"
            extra |= {"pnl": plain(closing.pnl), "position_after": plain(closing.qty_after)}
            if closing.trip_pnl is not None:
                text += f"; trade closed, net {plain(closing.trip_pnl)} {unit} after all fees"
                extra["trade_pnl"] = plain(closing.trip_pnl)
        self._emit(kinds.TRADE_EXIT, f"{kinds.TRADE_EXIT}:{self.bot_id}:{fields['exec_id']}",
                   text, **_fill_fields(event, fields), **extra)  # fmt: skip

    # --- orders, risk, operations -----------------------------------------------------

    def order_rejected(self, result: Result) -> None:
        """The exchange refused ``result.intent`` (``result.code``: its retCode)."""
        if not self._wanted(kinds.ORDER_REJECTED):
            return
        intent, tracked = result.intent, result.tracked
        if isinstance(intent, AmendStop | CancelOrder):
            what = "amend" if isinstance(intent, AmendStop) else "cancel"
            side, qty = "", ""
        else:
            what = tracked.kind if tracked else type(intent).__name__
            side = tracked.side if tracked else str(getattr(intent, "side", ""))
            qty = tracked.qty if tracked else plain(getattr(intent, "qty", Decimal(0)))
        code = "" if result.code is None else str(result.code)
        order = " ".join(part for part in (what, side, qty, intent.symbol) if part)
        self._emit(
            kinds.ORDER_REJECTED,
            f"{kinds.ORDER_REJECTED}:{self.bot_id}:{intent.symbol}:{code}",
            f"{self.bot_id}: order rejected by the exchange ({order}): {result.detail}",
            symbol=intent.symbol, order=what, side=side, qty=qty, code=code,
            reason=intent.reason.label, order_link_id=result.link_id or "",
        )  # fmt: skip

    def risk_halt(
        self, detail: str, at: datetime | None = None, *, escalation: bool = False
    ) -> None:
        """``at``: the market time of the halt (the candle or fill that crossed the
        limit), so a halt can be placed among the ledger's fills, which are in that time.
        ``escalation``: the halt in force became this stricter one (a daily halt, then
        the drawdown past its limit). It is its own incident: under the halt's key the C2
        would count it as a repeat of the halt it already sent, and not send it."""
        key = f"{kinds.RISK_HALT}:{self.bot_id}" + (":escalated" if escalation else "")
        said = "entries stay halted" if escalation else "entries halted"
        self._emit(kinds.RISK_HALT, key, f"{self.bot_id}: {said}: {detail}", resolved="0",
                   **_market_time(at))  # fmt: skip

    def risk_lift(self, why: str, at: datetime | None = None) -> None:
        # The halt's key: the lift ends that incident in the C2.
        self._emit(kinds.RISK_LIFT, f"{kinds.RISK_HALT}:{self.bot_id}",
                   f"{self.bot_id}: entries allowed again ({why})", resolved="1",
                   **_market_time(at))  # fmt: skip

    def flatten_done(self, exits: Sequence[ExitMarket], cancelled: int) -> None:
        """The flatten sent its market ``exits`` and cancelled ``cancelled`` resting
        orders; the exits' fills follow as ``trade_exit`` (reason ``flatten``)."""
        if exits:
            what = "closing " + ", ".join(
                f"{e.side} {plain(e.qty)} {e.symbol}" for e in sorted(exits, key=lambda e: e.symbol)
            )
        else:
            what = "nothing was open"
        self._emit(
            kinds.FLATTEN_DONE,
            f"{kinds.FLATTEN_DONE}:{self.bot_id}:{self.clock().isoformat()}",
            f"{self.bot_id}: flatten done: {what}; {cancelled} resting order(s) cancelled",
            symbols=",".join(sorted({e.symbol for e in exits})), cancelled=str(cancelled),
        )  # fmt: skip

    def universe(self, symbols: Iterable[str], joined: Iterable[str], left: Iterable[str]) -> None:
        symbols, joined, left = list(symbols), list(joined), list(left)
        self._emit(
            kinds.UNIVERSE,
            f"{kinds.UNIVERSE}:{self.bot_id}:{self.clock().isoformat()}",
            f"{self.bot_id}: universe now {len(symbols)} symbols;"
            f" joined {', '.join(joined) or '-'}; left {', '.join(left) or '-'}",
            symbols=",".join(symbols), joined=",".join(joined), left=",".join(left),
        )  # fmt: skip

    # --- the stream -------------------------------------------------------------------

    def _wanted(self, kind: str, severity: str = "info") -> bool:
        return self.settings.wants(kind, severity, self.clock())

    def _emit(self, kind: str, key: str, text: str, **context: str) -> None:
        if not self._wanted(kind):
            log.debug("bot %s: %s not sent (notify settings): %s", self.bot_id, kind, text)
            return
        fields = {"kind": kind, "key": key, "severity": "info", "bot_id": self.bot_id,
                  "text": text, **context}  # fmt: skip
        try:
            self.publish(fields)
        except Exception as exc:  # the log line still tells the story
            log.error("bot %s: %s notification not published: %s (%s)", self.bot_id, kind,
                      exc, text)  # fmt: skip


def _market_time(at: datetime | None) -> dict[str, str]:
    return {"market_time": at.astimezone(UTC).isoformat()} if at is not None else {}


def _unit(symbol: str) -> str:
    return settle_coin("linear", symbol) or "USDT"


def _fill_fields(event: FillEvent, fields: Mapping[str, str]) -> dict[str, str]:
    return {
        "symbol": event.symbol,
        "side": event.side,
        "qty": plain(event.qty),
        "price": plain(event.price),
        "fee": plain(event.fee),
        "exec_id": fields.get("exec_id", ""),
        "exec_time": fields.get("exec_time", ""),
        "order_link_id": event.order_link_id,
    }
