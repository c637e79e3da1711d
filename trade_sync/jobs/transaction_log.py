"""The bots' P&L against Bybit's own books: the transaction log, per account and UTC day.

What is compared, and the convention on both sides
--------------------------------------------------
Bybit's transaction log (``/v5/account/transaction-log``) has one entry per trade
(``TRADE``, and ``ADL``, ``LIQUIDATION``, ``DELIVERY``) and per funding settlement
(``SETTLEMENT``), with

* ``cashFlow`` — the realized P&L of the closed part of a trade *before* fees:
  ``closed × (exit − entry)`` for a long, the negative for a short (0 for an opening
  trade, 0 for funding);
* ``fee`` — the trading fee, positive paid, negative rebate (the execution's ``execFee``);
* ``funding`` — positive *received*, negative paid (the opposite sign of a Funding
  execution's ``execFee``, which ``trading.funding.funding_fee`` stores);
* ``change = cashFlow + funding − fee`` — what the entry did to the wallet.

Per UTC day the job sums those three over the account's entries (other types —
transfers, bonuses, interest — are not trading and are counted, not compared) and
builds the same three numbers from the ledger, over every bot's fills including
``external``'s:

* fees = Σ ``trading.fills.exec_fee`` (USDT; a fee in another coin is counted apart);
* funding = −Σ ``trading.funding.funding_fee``;
* realized = the realized P&L before fees of the *account's* position per symbol — the
  ledger's fills of every bot folded together in ledger order ``(exec_time, seq,
  exec_id)`` with the position fold's rules (``core.positions``: average cost, the one
  1e-12 rounding of a partial close's cost share), i.e. one netted position per
  symbol, as the exchange keeps it. Each fill's part is ``Δ realized_pnl + exec_fee``
  of that fold (its realized P&L is net of fees), computed in a 60-digit context so
  nothing is rounded but the fold's own documented step.

The bots' own realized P&L (each bot's fold, ``analytics.fill_pnl``) sums to the same
number only when no two holders of a symbol on the account overlap: when one bot buys
what another sells, the exchange sees nothing realized while each bot's fold does (a
transfer between bots that nets to zero over their positions' lives). That difference
is reported per day as ``netting`` (bots' sum − account fold), never as drift; it is
exactly the change over the day of Σ bots' open cost minus the account's open cost.

A day drifts when fees, funding or realized P&L differ by more than the rounding
tolerance: ``SYNC_TRANSACTION_LOG_TOLERANCE`` (default 1e-8 USDT, the smallest unit
Bybit prints) per transaction-log entry of that day. Today is checked up to
``ctx.books_grace`` ago on both sides (a fill still on its way is not a drift).

Drift goes the drift path: the run's ``trading.sync_runs`` row (status ``drift``, the
days and both sides in ``details``), one ``pnl_drift`` alert per (account, day) when a
drift is new or its amounts change, a ``resolved`` alert when the day reconciles again.
A drifting day stays open (``details.open``) and is re-checked by every run until it
reconciles, however old it gets.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Context, Decimal, InvalidOperation, localcontext
from typing import Any

import psycopg
from prometheus_client import Gauge
from pybit.unified_trading import HTTP

from core.exchange import rest
from core.ids import AccountName
from core.positions import Position
from core.redis_client import stream_fields
from core.redis_keys import ALERTS
from trade_sync.context import SyncContext
from trade_sync.jobs.ledger import (
    account_fills,
    daily_bot_realized,
    daily_funding,
    whole_executions,
)
from trade_sync.runs import Outcome

NAME = "transaction_log"
log = logging.getLogger(__name__)

#: Entry types that are trading (compared); anything else is a transfer, bonus, interest…
TRADING_TYPES = frozenset({"TRADE", "SETTLEMENT", "ADL", "LIQUIDATION", "DELIVERY"})
COMPONENTS = ("realized", "fees", "funding")
_ZERO = Decimal(0)
#: Sums of ledger amounts never round: NUMERIC has no fixed precision, neither do we.
_WIDE = Context(prec=60)
_LAST_MS = timedelta(days=1) - timedelta(milliseconds=1)

OPEN_DAYS = Gauge(
    "alpha_sync_pnl_drift_days", "UTC days whose ledger P&L differs from Bybit's", ["account"]
)


@dataclass
class Amounts:
    """One day's money in the transaction log's terms (USDT)."""

    realized: Decimal = _ZERO  # cashFlow: realized P&L before fees
    fees: Decimal = _ZERO  # positive paid
    funding: Decimal = _ZERO  # positive received
    count: int = 0  # entries (exchange) or fills + funding rows (ledger)

    @property
    def change(self) -> Decimal:
        return self.realized + self.funding - self.fees

    def get(self, component: str) -> Decimal:
        return getattr(self, component)


@dataclass
class DayCheck:
    day: date
    start: datetime
    end: datetime
    exchange: Amounts = field(default_factory=Amounts)
    ledger: Amounts = field(default_factory=Amounts)
    #: Each bot's own realized P&L before fees (its fold), for the account's fills that day.
    bots_realized: dict[str, Decimal] = field(default_factory=dict)
    #: Transaction-log entries that are not trading, by type (not compared).
    other_entries: dict[str, int] = field(default_factory=dict)
    #: Fills whose fee is not in USDT (not in the USDT log; not compared).
    other_fee_fills: int = 0
    tolerance: Decimal = _ZERO

    def difference(self, component: str) -> Decimal:
        """Bybit's amount minus the ledger's."""
        with localcontext(_WIDE):
            return self.exchange.get(component) - self.ledger.get(component)

    @property
    def drifted(self) -> bool:
        return any(abs(self.difference(c)) > self.tolerance for c in COMPONENTS)

    @property
    def netting(self) -> Decimal:
        with localcontext(_WIDE):
            return sum(self.bots_realized.values(), _ZERO) - self.ledger.realized

    def describe(self) -> dict[str, Any]:
        return {
            "window": [self.start.isoformat(), self.end.isoformat()],
            "exchange": _side(self.exchange),
            "ledger": _side(self.ledger),
            "difference": {c: _s(self.difference(c)) for c in (*COMPONENTS, "change")},
            "bots_realized": {b: _s(v) for b, v in sorted(self.bots_realized.items())},
            "netting": _s(self.netting),
            "tolerance": _s(self.tolerance),
            "other_entries": dict(sorted(self.other_entries.items())),
            "other_fee_fills": self.other_fee_fills,
        }


# -- the job --------------------------------------------------------------------------------


def run(ctx: SyncContext, account: AccountName, days: Iterable[date] | None = None) -> Outcome:
    """Reconcile ``days`` (default: the last ``SYNC_TRANSACTION_LOG_DAYS`` UTC days, plus
    every day still open from earlier runs) and raise or clear their drift alerts."""
    settings = ctx.settings.sync
    cutoff = ctx.clock() - ctx.books_grace
    with ctx.db() as conn:
        previous = _open_days(conn, account)
    if days is None:
        last = cutoff.astimezone(UTC).date()
        recent = {last - timedelta(days=n) for n in range(settings.transaction_log_days)}
        days = recent | {date.fromisoformat(d) for d in previous}
    http = ctx.http(account)
    with ctx.db() as conn:
        checks = reconcile(http, conn, account, days, cutoff, settings.transaction_log_tolerance)
    raised, cleared = [], []
    open_days = dict(previous)
    for check in checks:
        key = check.day.isoformat()
        if check.drifted:
            described = check.describe()
            before = previous.get(key)
            if before is None or before.get("difference") != described["difference"]:
                raised.append(check)
            open_days[key] = described
        elif key in open_days:
            del open_days[key]
            cleared.append(check)
    OPEN_DAYS.labels(account=account).set(len(open_days))
    for check in raised:
        _alert(ctx, account, check, resolved=False)
    for check in cleared:
        _alert(ctx, account, check, resolved=True)
    drifted = [c for c in checks if c.drifted]
    outcome = Outcome(
        checked=len(checks),
        found=len(drifted),
        status="drift" if drifted else "ok",
        details={
            "days": {c.day.isoformat(): c.describe() for c in checks},
            "drifts": [c.day.isoformat() for c in drifted],
            "open": open_days,
            "cleared": [c.day.isoformat() for c in cleared],
        },
    )
    outcome.lines.append(
        f"{NAME} [{account}]: {len(checks)} UTC day(s) against Bybit's transaction log, "
        f"{len(drifted)} drifting" + (f", {len(cleared)} cleared" if cleared else "")
    )
    outcome.lines += [f"  {'DRIFT ' if c.drifted else ''}{_text(account, c)}" for c in checks]
    return outcome


def reconcile(
    http: HTTP,
    conn: psycopg.Connection[Any],
    account: str,
    days: Iterable[date],
    cutoff: datetime,
    tolerance: Decimal,
) -> list[DayCheck]:
    """Both sides of every day in ``days`` (up to ``cutoff``), oldest first; no side effects."""
    checks: dict[date, DayCheck] = {}
    for day in sorted(set(days)):
        start = datetime.combine(day, time(0), tzinfo=UTC)
        if start > cutoff:
            continue  # a day that has not begun
        checks[day] = DayCheck(day, start, min(start + _LAST_MS, cutoff))
    if not checks:
        return []
    for check in checks.values():
        _exchange_side(http, check)
        check.tolerance = tolerance * max(1, check.exchange.count)
    _ledger_side(conn, account, checks)
    return list(checks.values())


def _exchange_side(http: HTTP, check: DayCheck) -> None:
    side = check.exchange
    with localcontext(_WIDE):
        for entry in rest.iter_transaction_log(http, check.start, check.end):
            kind = str(entry.get("type") or "")
            if kind not in TRADING_TYPES:
                check.other_entries[kind] = check.other_entries.get(kind, 0) + 1
                continue
            side.realized += _amount(entry, "cashFlow")
            side.fees += _amount(entry, "fee")
            side.funding += _amount(entry, "funding")
            side.count += 1


def _ledger_side(conn: psycopg.Connection[Any], account: str, checks: dict[date, DayCheck]) -> None:
    first = min(c.start for c in checks.values())
    until = max(c.end for c in checks.values())
    positions: dict[str, Position] = {}
    with localcontext(_WIDE):
        # One entry per execution on Bybit's side: a split ADL's shares count once.
        for fill in whole_executions(account_fills(conn, account, until)):
            before = positions.get(fill.symbol) or Position()
            after = positions[fill.symbol] = before.apply(fill)
            check = checks.get(fill.exec_time.astimezone(UTC).date())
            if check is None or fill.exec_time > check.end:
                continue
            check.ledger.realized += after.realized_pnl - before.realized_pnl + fill.exec_fee
            check.ledger.count += 1
            if fill.fee_currency == "USDT":
                check.ledger.fees += fill.exec_fee
            else:
                check.other_fee_fills += 1
        for day, (paid, rows) in daily_funding(conn, account, first, until).items():
            if day in checks:
                checks[day].ledger.funding -= paid  # the ledger stores it positive when paid
                checks[day].ledger.count += rows
    for day, per_bot in daily_bot_realized(conn, account, first, until).items():
        if day in checks:
            checks[day].bots_realized = per_bot


def _amount(entry: dict[str, Any], name: str) -> Decimal:
    """A transaction-log amount: a decimal string, or empty where it does not apply."""
    raw = entry.get(name)
    if raw in (None, ""):
        return _ZERO
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise ValueError(f"transaction log entry {entry.get('id')!r}: {name} is {raw!r}")
    return value


# -- state, alerts, text --------------------------------------------------------------------


def _open_days(conn: psycopg.Connection[Any], account: str) -> dict[str, dict[str, Any]]:
    """The days the last completed run left drifting (``details.open``)."""
    row = conn.execute(
        "SELECT details FROM trading.sync_runs WHERE job = %s AND account = %s "
        "AND status IN ('ok', 'drift') ORDER BY id DESC LIMIT 1",
        (NAME, account),
    ).fetchone()
    opened = (row[0] or {}).get("open") if row else None
    return dict(opened) if isinstance(opened, dict) else {}


def _alert(ctx: SyncContext, account: str, check: DayCheck, *, resolved: bool) -> None:
    text = _text(account, check)
    if resolved:
        log.warning("P&L drift cleared: %s", text)
    else:
        log.error("P&L drift: %s", text)
    fields = {
        "kind": "pnl_drift",
        # One incident per (account, day): the clear ends the drift it opened in the C2.
        "key": f"pnl_drift:{account}:{check.day.isoformat()}",
        "resolved": "1" if resolved else "0",
        "severity": "info" if resolved else "critical",
        "account": account,
        "day": check.day.isoformat(),
        "difference": json.dumps({c: _s(check.difference(c)) for c in (*COMPONENTS, "change")}),
        "exchange": json.dumps(_side(check.exchange)),
        "ledger": json.dumps(_side(check.ledger)),
        "text": ("P&L drift cleared: " if resolved else "P&L drift: ") + text,
        "at": ctx.clock().isoformat(),
    }
    try:
        ctx.redis.xadd(ALERTS, stream_fields(fields))
    except Exception as exc:  # the sync_runs row and the log line still tell the story
        log.error("cannot publish P&L drift alert for %s %s: %s", account, check.day, exc)


def _text(account: str, c: DayCheck) -> str:
    if c.drifted:
        parts = [
            f"{name} {_s(c.difference(name))} (Bybit {_s(c.exchange.get(name))}, "
            f"ledger {_s(c.ledger.get(name))})"
            for name in COMPONENTS
            if abs(c.difference(name)) > c.tolerance
        ]
        return (
            f"{account} {c.day.isoformat()}: Bybit minus ledger: " + "; ".join(parts)
            + f"; change {_s(c.difference('change'))} "
            f"({c.exchange.count} log entries, {c.ledger.count} ledger rows)"
        )  # fmt: skip
    netting = f", bots' netting {_s(c.netting)}" if c.netting else ""
    return (
        f"{account} {c.day.isoformat()}: realized {_s(c.ledger.realized)}, fees "
        f"{_s(c.ledger.fees)}, funding {_s(c.ledger.funding)} agree "
        f"({c.exchange.count} log entries, {c.ledger.count} ledger rows{netting})"
    )


def _side(a: Amounts) -> dict[str, Any]:
    return {
        "realized": _s(a.realized), "fees": _s(a.fees), "funding": _s(a.funding),
        "change": _s(a.change), "count": a.count,
    }  # fmt: skip


def _s(value: Decimal) -> str:
    return format(value.normalize(_WIDE), "f") if value else "0"
