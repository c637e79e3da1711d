"""Position drift: the exchange position per (account, symbol) vs the bots' ledger sum.

``external`` is left out of the ledger side, so a position nobody can claim (a manual
trade, an unattributed fill) is itself a drift (docs/ledger.md invariant 5). Quantities on both
sides are multiples of the instrument's ``qtyStep``, so any real disagreement is at
least one step; a smaller difference can only be representation noise, and that is
the tolerance.

A drift is re-read once after ``ctx.drift_confirm_delay`` before it is reported: a
fill in flight (exchange position updated, ledger row a moment later) is not a drift.
A confirmed one opens (or refreshes) the one open ``trading.drift_events`` row of its
(account, symbol), raises an alert on the ``alerts`` stream when it is new or its
quantities changed, sets the gauge and logs both sides. When the two sides agree
again the row gets ``cleared_at`` and a ``drift_cleared`` alert goes out.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from prometheus_client import Gauge
from psycopg.types.json import Jsonb

from core.exchange import rest
from core.ids import AccountName
from core.redis_client import stream_fields
from core.redis_keys import ALERTS
from trade_sync.context import SyncContext
from trade_sync.jobs.ledger import bot_positions, split_external
from trade_sync.runs import Outcome

NAME = "position_drift"
log = logging.getLogger(__name__)
_ZERO = Decimal(0)
#: When the exchange does not list a symbol's rules (delisted), compare exactly.
_DEFAULT_STEP = Decimal("1e-12")

DRIFT = Gauge(
    "alpha_sync_position_drift",
    "Exchange qty minus the bots' ledger qty (0 when they agree)",
    ["account", "symbol"],
)
OPEN_DRIFTS = Gauge("alpha_sync_open_drifts", "Open drift events", ["account"])


@dataclass(frozen=True)
class Comparison:
    symbol: str
    exchange_qty: Decimal
    ledger_qty: Decimal
    per_bot: dict[str, Decimal]
    external_qty: Decimal
    step: Decimal

    @property
    def difference(self) -> Decimal:
        return self.exchange_qty - self.ledger_qty

    @property
    def drifted(self) -> bool:
        return abs(self.difference) >= self.step


def run(ctx: SyncContext, account: AccountName) -> Outcome:
    http = ctx.http(account)
    steps = ctx.qty_steps(http)
    with ctx.db() as conn:
        open_rows = _open_events(conn, account)
    comparisons = _compare(ctx, http, account, steps, set(open_rows))
    suspects = [c.symbol for c in comparisons.values() if c.drifted]
    if suspects and ctx.drift_confirm_delay > 0:
        time.sleep(ctx.drift_confirm_delay)
        comparisons.update(_compare(ctx, http, account, steps, set(suspects), only=suspects))
    drifted = [c for c in comparisons.values() if c.drifted]
    cleared: list[Comparison] = []
    raised: list[Comparison] = []
    with ctx.db() as conn:
        for c in comparisons.values():
            DRIFT.labels(account=account, symbol=c.symbol).set(c.difference)  # type: ignore[arg-type]  # the gauge converts
            before = open_rows.get(c.symbol)
            if c.drifted:
                _upsert(conn, account, c)
                if before is None or before != (c.exchange_qty, c.ledger_qty):
                    raised.append(c)
            elif before is not None:
                conn.execute(
                    "UPDATE trading.drift_events SET cleared_at = now(), last_seen_at = now(), "
                    "exchange_qty = %s, ledger_qty = %s, per_bot = %s "
                    "WHERE account = %s AND symbol = %s AND cleared_at IS NULL",
                    (c.exchange_qty, c.ledger_qty, Jsonb(_plain(c.per_bot)), account, c.symbol),
                )
                cleared.append(c)
    OPEN_DRIFTS.labels(account=account).set(len(drifted))
    for c in raised:
        _alert(ctx, account, c, "drift")
    for c in cleared:
        _alert(ctx, account, c, "drift_cleared")
    outcome = Outcome(
        checked=len(comparisons),
        found=len(drifted),
        status="drift" if drifted else "ok",
        details={
            "drifts": {c.symbol: _describe(c) for c in drifted},
            "cleared": [c.symbol for c in cleared],
        },
    )
    outcome.lines.append(
        f"{NAME} [{account}]: {len(comparisons)} symbols compared, {len(drifted)} drifting"
        + (f", {len(cleared)} cleared" if cleared else "")
    )
    outcome.lines += [f"  DRIFT {_text(account, c)}" for c in drifted]
    return outcome


def _compare(
    ctx: SyncContext,
    http: Any,
    account: AccountName,
    steps: dict[str, Decimal],
    extra_symbols: set[str],
    only: list[str] | None = None,
) -> dict[str, Comparison]:
    exchange: dict[str, Decimal] = {}
    for item in rest.positions(http):
        size = Decimal(str(item.get("size") or "0"))
        side = item.get("side")
        sign = 1 if side == "Buy" else -1 if side == "Sell" else 0
        if size and sign:
            exchange[item["symbol"]] = exchange.get(item["symbol"], _ZERO) + sign * size
    with ctx.db() as conn:
        ledger = bot_positions(conn, account, only)
    symbols = set(exchange) | extra_symbols
    symbols |= {s for s, per in ledger.items() if any(split_external(per)[0].values())}
    if only is not None:
        symbols &= set(only)
    out: dict[str, Comparison] = {}
    for symbol in sorted(symbols):
        bots, external = split_external(ledger.get(symbol, {}))
        out[symbol] = Comparison(
            symbol=symbol,
            exchange_qty=exchange.get(symbol, _ZERO),
            ledger_qty=sum(bots.values(), _ZERO),
            per_bot={b: q for b, q in sorted(bots.items()) if q},
            external_qty=external,
            step=steps.get(symbol, _DEFAULT_STEP),
        )
    return out


def _open_events(conn: Any, account: str) -> dict[str, tuple[Decimal, Decimal]]:
    rows = conn.execute(
        "SELECT symbol, exchange_qty, ledger_qty FROM trading.drift_events "
        "WHERE account = %s AND cleared_at IS NULL",
        (account,),
    ).fetchall()
    return {r[0]: (Decimal(r[1]), Decimal(r[2])) for r in rows}


def _upsert(conn: Any, account: str, c: Comparison) -> None:
    conn.execute(
        """
        INSERT INTO trading.drift_events (account, symbol, exchange_qty, ledger_qty, per_bot)
        VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (account, symbol) WHERE cleared_at IS NULL DO UPDATE
           SET exchange_qty = EXCLUDED.exchange_qty, ledger_qty = EXCLUDED.ledger_qty,
               per_bot = EXCLUDED.per_bot, last_seen_at = now()
        """,
        (account, c.symbol, c.exchange_qty, c.ledger_qty, Jsonb(_plain(c.per_bot))),
    )


def _alert(ctx: SyncContext, account: str, c: Comparison, kind: str) -> None:
    text = _text(account, c)
    if kind == "drift":
        log.error("position drift: %s", text)
    else:
        log.warning("position drift cleared: %s", text)
    fields = {
        "kind": kind,
        # One incident per (account, symbol): the clear ends the drift it opened in the C2.
        "key": f"drift:{account}:{c.symbol}",
        "resolved": "0" if kind == "drift" else "1",
        "severity": "critical" if kind == "drift" else "info",
        "account": account,
        "symbol": c.symbol,
        "exchange_qty": _s(c.exchange_qty),
        "ledger_qty": _s(c.ledger_qty),
        "difference": _s(c.difference),
        "per_bot": json.dumps(_plain(c.per_bot)),
        "external_qty": _s(c.external_qty),
        "text": ("Position drift: " if kind == "drift" else "Drift cleared: ") + text,
        "at": ctx.clock().isoformat(),
    }
    try:
        ctx.redis.xadd(ALERTS, stream_fields(fields))
    except Exception as exc:  # the row and the log line still tell the story
        log.error("cannot publish %s alert for %s %s: %s", kind, account, c.symbol, exc)


def _text(account: str, c: Comparison) -> str:
    bots = ", ".join(f"{b} {_s(q)}" for b, q in c.per_bot.items()) or "no bot position"
    ext = f"; external {_s(c.external_qty)}" if c.external_qty else ""
    return (
        f"{account} {c.symbol}: exchange {_s(c.exchange_qty)} vs ledger {_s(c.ledger_qty)} "
        f"(diff {_s(c.difference)}; {bots}{ext})"
    )


def _describe(c: Comparison) -> dict[str, Any]:
    return {
        "exchange_qty": _s(c.exchange_qty), "ledger_qty": _s(c.ledger_qty),
        "per_bot": _plain(c.per_bot), "external_qty": _s(c.external_qty),
    }  # fmt: skip


def _plain(per_bot: dict[str, Decimal]) -> dict[str, str]:
    return {b: _s(q) for b, q in per_bot.items()}


def _s(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"
