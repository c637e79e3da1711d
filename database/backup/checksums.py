"""What a restore must reproduce: per-table row counts and the ledger checksum.

Both are computed inside one transaction, so on the source they describe exactly the
snapshot pg_dump is given (see ``dump``), and on a scratch restore the restored data.
Values are JSON-ready strings: NUMERIC sums as exact decimal text, times as ISO text.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

#: Schemas whose tables are counted (alembic's version table lives in public; market:
#: migration 0013, which lets the backup role read it).
SCHEMAS = ("trading", "analytics", "market", "public")

#: Per ledger table: the aggregate expressions of its checksum.
LEDGER = {
    "trading.fills": {
        "count": "count(*)",
        "sum_exec_qty": "sum(exec_qty)",
        "sum_exec_value": "sum(exec_value)",
        "sum_exec_fee": "sum(exec_fee)",
        "max_exec_time": "max(exec_time)",
    },
    "trading.funding": {
        "count": "count(*)",
        "sum_funding_fee": "sum(funding_fee)",
        "max_exec_time": "max(exec_time)",
    },
    "trading.orders": {
        "count": "count(*)",
        "sum_qty": "sum(qty)",
        "sum_cum_exec_value": "sum(cum_exec_value)",
        "max_updated_time": "max(updated_time)",
    },
}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def row_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    tables = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(%s) ORDER BY 1, 2",
        (list(SCHEMAS),),
    ).fetchall()
    counts: dict[str, int] = {}
    for schema, table in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        row = conn.execute(query).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


def ledger_checksum(conn: psycopg.Connection[Any]) -> dict[str, dict[str, str | None]]:
    out: dict[str, dict[str, str | None]] = {}
    for table, aggregates in LEDGER.items():
        select = ", ".join(f"{expr} AS {name}" for name, expr in aggregates.items())
        cur = conn.execute(f"SELECT {select} FROM {table}")
        row = cur.fetchone() or ()
        out[table] = {name: _text(v) for name, v in zip(aggregates, row, strict=True)}
    return out


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Human-readable mismatches between two checksum (or row count) documents."""
    out: list[str] = []
    for key in sorted(set(expected) | set(actual)):
        if expected.get(key) != actual.get(key):
            out.append(f"{key}: expected {expected.get(key)!r}, restored {actual.get(key)!r}")
    return out
