"""The demo's verdict: the ledger against the paper exchange's own books.

1. Every execution in the exchange's execution list is in ``trading.fills`` exactly once
   (funding in ``trading.funding``), and the ledger holds nothing the exchange did not do.
2. Per (account, symbol), the bots' positions (``analytics.bot_positions``) sum to the
   exchange's position.
3. Per (account, UTC day), the ledger's realized P&L, fees and funding match the
   exchange's transaction log (trade sync's reconciliation, ``reconcile``).
A demo in which nothing traded proves nothing, so zero executions fails too.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from pybit.unified_trading import HTTP

from core.config import Role
from demo import db
from demo.infra import Infra


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    executions: int = 0

    @property
    def passed(self) -> bool:
        return not self.problems


def exchange_dump(base_url: str, account: str) -> dict[str, Any]:
    url = f"{base_url}/paper/dump?{urllib.parse.urlencode({'account': account})}"
    with urllib.request.urlopen(url, timeout=30) as reply:
        return json.loads(reply.read())


def _signed(position: dict[str, Any]) -> Decimal:
    size = Decimal(str(position.get("size") or 0))
    return -size if position.get("side") == "Sell" else size


def verify(infra: Infra, base_url: str, accounts: list[str]) -> Verdict:
    verdict = Verdict()
    try:
        ledger = _ledger(infra, accounts)
    except psycopg.Error as exc:
        verdict.problems.append(f"cannot read the ledger: {type(exc).__name__}: {exc}")
        return verdict
    for account in accounts:
        try:
            dump = exchange_dump(base_url, account)
        except OSError as exc:
            verdict.problems.append(f"{account}: cannot read the paper exchange: {exc}")
            continue
        _check_executions(verdict, account, dump, ledger)
        _check_positions(verdict, account, dump, ledger)
        _check_books(verdict, infra, base_url, account, dump)
    if verdict.executions == 0:
        verdict.problems.append("the exchange reports no executions: nothing was verified")
    return verdict


def _ledger(infra: Infra, accounts: list[str]) -> dict[str, Any]:
    with db.readonly(infra) as conn:
        fills = conn.execute(
            # An ADL split between the bots that held the symbol is one pro_rata row per
            # bot (docs/attribution.md): one execution. Any other repeat stays a repeat.
            "SELECT account, exec_id FROM (SELECT account, exec_id, count(*) AS n,"
            "  bool_and(attribution IS NOT DISTINCT FROM 'pro_rata') AS split"
            "  FROM trading.fills WHERE account = ANY(%s) GROUP BY account, exec_id) x,"
            " generate_series(1, CASE WHEN split THEN 1 ELSE n END)",
            (accounts,),
        ).fetchall()
        funding = conn.execute(
            # One row per bot share of an execution (docs/attribution.md): count it once.
            "SELECT DISTINCT account, exec_id FROM trading.funding WHERE account = ANY(%s)",
            (accounts,),
        ).fetchall()
        positions = conn.execute(
            # The position's own account: external's positions are per account.
            "SELECT account, symbol, sum(qty) AS qty FROM analytics.bot_positions "
            "WHERE account = ANY(%s) GROUP BY account, symbol",
            (accounts,),
        ).fetchall()
    return {"fills": fills, "funding": funding, "positions": positions}


def _check_executions(
    verdict: Verdict, account: str, dump: dict[str, Any], ledger: dict[str, Any]
) -> None:
    rows = dump.get("executions") or []
    trades = {str(r["execId"]) for r in rows if r.get("execType") != "Funding"}
    funding = {str(r["execId"]) for r in rows if r.get("execType") == "Funding"}
    verdict.executions += len(rows)
    fills = Counter(r["exec_id"] for r in ledger["fills"] if r["account"] == account)
    booked = Counter(r["exec_id"] for r in ledger["funding"] if r["account"] == account)
    for name, expected, got in (("fills", trades, fills), ("funding", funding, booked)):
        missing = expected - set(got)
        extra = set(got) - expected
        twice = [e for e, n in got.items() if n > 1]
        if missing:
            verdict.problems.append(
                f"{account}: {len(missing)} execution(s) missing from trading.{name}, "
                f"e.g. {sorted(missing)[:3]}"
            )
        if extra:
            verdict.problems.append(
                f"{account}: {len(extra)} row(s) in trading.{name} the exchange never "
                f"executed, e.g. {sorted(extra)[:3]}"
            )
        if twice:
            verdict.problems.append(f"{account}: in trading.{name} more than once: {twice[:3]}")
    pieces = Counter(
        r["orderId"] for r in rows if r.get("execType") == "Trade" and r.get("orderId")
    )
    split = sum(1 for n in pieces.values() if n > 1)
    verdict.notes.append(
        f"{account}: {len(trades)} execution(s) and {len(funding)} funding row(s) matched"
        f" ({split} order(s) filled in several executions)"
    )


def _check_positions(
    verdict: Verdict, account: str, dump: dict[str, Any], ledger: dict[str, Any]
) -> None:
    exchange: dict[str, Decimal] = defaultdict(Decimal)
    for pos in dump.get("positions") or []:
        exchange[pos["symbol"]] += _signed(pos)
    bots: dict[str, Decimal] = defaultdict(Decimal)
    for row in ledger["positions"]:
        if row["account"] == account:
            bots[row["symbol"]] += row["qty"] or Decimal(0)
    for symbol in sorted(set(exchange) | set(bots)):
        if exchange[symbol] != bots[symbol]:
            verdict.problems.append(
                f"{account} {symbol}: bots' positions sum to {bots[symbol]:f}, "
                f"the exchange holds {exchange[symbol]:f}"
            )


def _check_books(
    verdict: Verdict, infra: Infra, base_url: str, account: str, dump: dict[str, Any]
) -> None:
    """Trade sync's transaction-log reconciliation over every UTC day the demo traded."""
    from demo.services import ACCOUNT_KEYS
    from trade_sync.jobs.transaction_log import reconcile

    times = [int(r["execTime"]) for r in dump.get("executions") or []]
    if not times:
        return
    first, last = (datetime.fromtimestamp(t / 1000, UTC) for t in (min(times), max(times)))
    days = [first.date() + timedelta(days=n) for n in range((last.date() - first.date()).days + 1)]
    key, secret = ACCOUNT_KEYS[account]
    http = HTTP(api_key=key, api_secret=secret, timeout=10)
    http.endpoint = base_url
    assert infra.pgbouncer is not None
    try:
        with psycopg.connect(
            host=infra.pgbouncer.host, port=infra.pgbouncer.port,
            user=infra.role(Role.READONLY), password=infra.passwords[Role.READONLY],
            dbname=infra.database, connect_timeout=5, prepare_threshold=None,
        ) as conn:  # fmt: skip
            checks = reconcile(http, conn, account, days, last, Decimal("0.00000001"))
    except Exception as exc:  # the verdict says what failed; it never hides it
        verdict.problems.append(f"{account}: transaction-log reconciliation failed: {exc}")
        return
    for check in checks:
        if check.drifted:
            diff = {c: f"{check.difference(c):f}" for c in ("realized", "fees", "funding")}
            verdict.problems.append(
                f"{account} {check.day}: ledger differs from Bybit's transaction log {diff}"
            )
    entries = sum(c.exchange.count for c in checks)
    verdict.notes.append(
        f"{account}: realized P&L, fees and funding match the transaction log "
        f"({entries} entries over {len(checks)} UTC day(s))"
    )
