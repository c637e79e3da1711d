"""Stored backtest runs: ``analytics.backtest_runs`` and ``analytics.backtest_trades``
(migration 0015, docs/research.md#stored-results).

The owner writes (``alpha backtest … --save`` connects directly, an operator's one-shot
command); the readonly role reads. Money goes in and comes out as ``Decimal``.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bots.backtest.engine import RoundTrip
from bots.backtest.metrics import Metrics


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What produced a run and what it measured: one row of ``backtest_runs``."""

    bot_type: str
    config: dict[str, Any]
    code_version: str
    data_source: str  # "csv:/abs/path.csv" or "store:EXCHANGE"
    data_from: datetime  # first bar's open
    data_to: datetime  # last bar's close
    symbols: list[str]
    interval: str
    candles: int
    started_at: datetime
    finished_at: datetime
    metrics: Metrics
    #: Mark-to-market equity at each bar time's close (``BacktestResult.equity_curve``).
    equity_curve: list[tuple[datetime, Decimal]] | None = None


@dataclass(frozen=True, slots=True)
class StoredRun:
    id: int
    bot_type: str
    config: dict[str, Any]
    code_version: str
    data_source: str
    data_from: datetime
    data_to: datetime
    symbols: list[str]
    interval: str
    candles: int
    started_at: datetime
    finished_at: datetime
    initial_equity: Decimal
    final_equity: Decimal
    net_pnl: Decimal
    fees: Decimal
    funding: Decimal
    trades: int
    metrics: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredTrade:
    seq: int
    symbol: str
    side: str
    entry_time: datetime
    exit_time: datetime
    entry_price: Decimal
    exit_price: Decimal
    qty: Decimal
    exit_reason: str
    gross_pnl: Decimal
    fees: Decimal
    funding: Decimal
    net_pnl: Decimal


def code_version(package_version: str) -> str:
    """``VERSION+gCOMMIT`` (``.dirty`` when the checkout has uncommitted changes) when the
    code runs from a git checkout; the package version alone otherwise (an installed
    wheel has no history to name)."""
    root = Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", str(root), *args],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return package_version
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{package_version}+g{commit}{'.dirty' if dirty else ''}"


def save(conn: psycopg.Connection[Any], run: RunRecord, trades: list[RoundTrip]) -> int:
    """Store ``run`` and its round trips in one transaction; returns the run's id."""
    m, curve = run.metrics, run.equity_curve
    with conn.transaction():
        row = conn.execute(
            """
            INSERT INTO analytics.backtest_runs (
                bot_type, config, code_version, data_source, data_from, data_to, symbols,
                interval, candles, started_at, finished_at, initial_equity, final_equity,
                net_pnl, fees, funding, trades, metrics, equity_times, equity)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                    %s::timestamptz[], %s::numeric[])
            RETURNING id
            """,
            (
                run.bot_type, Jsonb(run.config), run.code_version, run.data_source,
                run.data_from, run.data_to, run.symbols, run.interval, run.candles,
                run.started_at, run.finished_at, m.initial_equity, m.final_equity,
                m.net_pnl, m.fees, m.funding, len(trades), Jsonb(m.to_json()),
                None if curve is None else [t for t, _ in curve],
                None if curve is None else [e for _, e in curve],
            ),
        ).fetchone()  # fmt: skip
        assert row is not None
        run_id = int(row[0])
        with conn.cursor() as cur:
            cur.executemany(
                """
                INSERT INTO analytics.backtest_trades (
                    run_id, seq, symbol, side, entry_time, exit_time, entry_price,
                    exit_price, qty, exit_reason, gross_pnl, fees, funding, net_pnl)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                """,
                [
                    (
                        run_id, seq, t.symbol, t.side, t.opened, t.closed, t.entry_price,
                        t.exit_price, t.qty, t.exit_reason.long_name, t.pnl + t.fees, t.fees,
                        t.funding, t.net_pnl,
                    )
                    for seq, t in enumerate(trades)
                ],
            )  # fmt: skip
    return run_id


_RUN_COLUMNS = (
    "id, bot_type, config, code_version, data_source, data_from, data_to, symbols, interval,"
    " candles, started_at, finished_at, initial_equity, final_equity, net_pnl, fees, funding,"
    " trades, metrics"
)


def _run(row: tuple[Any, ...]) -> StoredRun:
    fields = list(row)
    for i in (2, 18):  # jsonb arrives parsed; a text column (old psycopg adapters) does not
        if isinstance(fields[i], str):
            fields[i] = json.loads(fields[i])
    return StoredRun(*fields)


def list_runs(
    conn: psycopg.Connection[Any], limit: int, bot_type: str | None = None
) -> list[StoredRun]:
    """The newest ``limit`` runs (of ``bot_type`` when given), newest first."""
    rows = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM analytics.backtest_runs"
        " WHERE %(type)s::text IS NULL OR bot_type = %(type)s"
        " ORDER BY id DESC LIMIT %(limit)s",
        {"type": bot_type, "limit": limit},
    ).fetchall()
    return [_run(row) for row in rows]


def load_run(conn: psycopg.Connection[Any], run_id: int) -> StoredRun | None:
    row = conn.execute(
        f"SELECT {_RUN_COLUMNS} FROM analytics.backtest_runs WHERE id = %s", (run_id,)
    ).fetchone()
    return None if row is None else _run(row)


def load_trades(conn: psycopg.Connection[Any], run_id: int) -> list[StoredTrade]:
    rows = conn.execute(
        "SELECT seq, symbol, side, entry_time, exit_time, entry_price, exit_price, qty,"
        " exit_reason, gross_pnl, fees, funding, net_pnl"
        " FROM analytics.backtest_trades WHERE run_id = %s ORDER BY seq",
        (run_id,),
    ).fetchall()
    return [StoredTrade(*row) for row in rows]


def load_equity_curve(
    conn: psycopg.Connection[Any], run_id: int
) -> list[tuple[datetime, Decimal]] | None:
    """The run's mark-to-market equity per bar time, oldest first; ``None`` when the run
    was stored without it (before migration 0022)."""
    from datetime import UTC

    row = conn.execute(
        "SELECT equity_times, equity FROM analytics.backtest_runs WHERE id = %s", (run_id,)
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return [(t.astimezone(UTC), e) for t, e in zip(row[0], row[1], strict=True)]
