"""Live progress: fills, positions and P&L per bot, read from the ledger every few seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg

from demo import db
from demo.infra import Infra
from demo.services import BOTS, Child

FILLS = """
SELECT bot_id, count(*) AS fills, coalesce(sum(exec_value), 0) AS volume
  FROM trading.fills GROUP BY bot_id
"""
POSITIONS = """
SELECT bot_id, symbol, qty, realized_pnl FROM analytics.bot_positions
"""


def snapshot(infra: Infra) -> dict[str, dict[str, Any]]:
    """Per bot: fills, volume, open positions (``SYMBOL qty``) and realized P&L."""
    rows: dict[str, dict[str, Any]] = {
        b.bot_id: {"fills": 0, "volume": Decimal(0), "positions": [], "pnl": Decimal(0)}
        for b in BOTS
    }
    for row in db.query(infra, FILLS):
        rows.setdefault(row["bot_id"], {"positions": [], "pnl": Decimal(0)})
        rows[row["bot_id"]].update(fills=row["fills"], volume=row["volume"])
    try:
        for row in db.query(infra, POSITIONS):
            entry = rows.setdefault(
                row["bot_id"],
                {"fills": 0, "volume": Decimal(0), "positions": [], "pnl": Decimal(0)},
            )
            if row["qty"]:
                entry["positions"].append(f"{row['symbol']} {row['qty']:+f}")
            entry["pnl"] += row["realized_pnl"] or 0
    except psycopg.errors.UndefinedTable:
        pass  # analytics not migrated in this build: fills alone are still progress
    return rows


def render(
    rows: dict[str, dict[str, Any]], children: list[Child], elapsed: float, status: str = ""
) -> str:
    dead = [c.spec.name for c in children if not c.alive]
    head = f"--- {elapsed:5.0f}s" + (f"  {status}" if status else "")
    lines = [head + (f"  exited: {', '.join(dead)}" if dead else "")]
    lines.append(f"{'bot':<16}{'fills':>7}{'volume':>14}{'realized':>12}  positions")
    for bot_id, r in sorted(rows.items()):
        lines.append(
            f"{bot_id:<16}{r.get('fills', 0):>7}{r.get('volume', 0):>14.2f}"
            f"{r.get('pnl', 0):>12.2f}  {', '.join(r.get('positions', [])) or '-'}"
        )
    return "\n".join(lines)


def watch(
    infra: Infra,
    children: list[Child],
    seconds: float,
    every: float = 5,
    status: Callable[[], str] = lambda: "",
) -> None:
    """Print a table every ``every`` seconds until ``seconds`` elapsed; ``status`` adds a
    word to each header (the simulated clock)."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        try:
            print(render(snapshot(infra), children, elapsed, status()), flush=True)
        except psycopg.Error as exc:  # a slow or restarting pool must not end the demo
            print(f"--- {elapsed:5.0f}s  (progress unavailable: {type(exc).__name__})")
        time.sleep(min(every, max(0.0, seconds - (time.monotonic() - start))))
