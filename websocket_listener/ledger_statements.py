"""The group commit's SQL: one statement per table, its columns and their types.

Rows travel as one JSON document that ``json_to_recordset`` expands server-side
(``websocket_listener/row_encoding.py`` builds it), or by ``COPY`` for a large batch of
fills. Apart from the writer so that the statements can be read (and tested) as text.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.fills import TERMINAL_ORDER_STATUSES

TERMINAL_STATUSES = tuple(sorted(TERMINAL_ORDER_STATUSES))

FILL_COLUMNS = (
    "exchange", "account", "category", "exec_id", "bot_id", "symbol", "order_id",
    "order_link_id", "reason", "side", "exec_price", "exec_qty", "exec_value", "exec_fee",
    "fee_currency", "is_maker", "exec_type", "exec_time", "seq", "source", "raw",
    "attribution",
)  # fmt: skip
FILL_TYPES = (
    "text", "text", "text", "text", "text", "text", "text", "text", "text", "text",
    "numeric", "numeric", "numeric", "numeric", "text", "boolean", "text", "timestamptz",
    "bigint", "text", "text", "text",
)  # fmt: skip

FUNDING_COLUMNS = (
    "exchange", "account", "category", "exec_id", "bot_id", "symbol", "side", "funding_fee",
    "fee_rate", "mark_price", "position_qty", "position_value", "exec_time", "source", "raw",
    "seq", "attribution",
)  # fmt: skip
FUNDING_TYPES = (
    "text", "text", "text", "text", "text", "text", "text", "numeric", "numeric", "numeric",
    "numeric", "numeric", "timestamptz", "text", "text", "bigint", "text",
)  # fmt: skip

ORDER_COLUMNS = (
    "exchange", "account", "category", "order_id", "order_link_id", "bot_id", "reason",
    "symbol", "side", "order_type", "time_in_force", "status", "price", "qty", "cum_exec_qty",
    "cum_exec_value", "avg_price", "trigger_price", "reduce_only", "cancel_type",
    "reject_reason", "created_time", "updated_time", "raw",
)  # fmt: skip
ORDER_TYPES = (
    "text", "text", "text", "text", "text", "text", "text", "text", "text", "text", "text",
    "text", "numeric", "numeric", "numeric", "numeric", "numeric", "numeric", "boolean",
    "text", "text", "timestamptz", "timestamptz", "text",
)  # fmt: skip


#: The type of each table's ``raw`` column (migration 0004: ``json`` for the executions).
_RAW_TYPES = {"fills": "json", "funding": "json", "orders": "jsonb"}


def _unnest_insert(table: str, columns: Sequence[str], types: Sequence[str]) -> str:
    """``INSERT … SELECT`` from one JSON array of row objects (``row_encoding.columns_json``)."""
    record = ", ".join(
        f"{c} {_RAW_TYPES[table] if c == 'raw' else t}" for c, t in zip(columns, types, strict=True)
    )
    cols = ", ".join(columns)
    return (
        f"INSERT INTO trading.{table} ({cols}) SELECT {cols}"
        f" FROM json_to_recordset(%s::json) AS u({record})"
    )


#: Not an execution the other table holds: an execId is stored once, as a fill or as
#: funding (an index probe per row on the other table's primary key).
_NOT_IN = (
    " WHERE NOT EXISTS (SELECT 1 FROM trading.{other} o"
    " WHERE o.exchange = u.exchange AND o.exec_id = u.exec_id)"
)
#: A fill is stored as one row per bot share (key: exec_id, bot_id; migration 0019): an
#: execution the table already holds, under any bot, is not inserted again.
INSERT_FILLS = (
    _unnest_insert("fills", FILL_COLUMNS, FILL_TYPES)
    + _NOT_IN.format(other="funding")
    + " AND NOT EXISTS (SELECT 1 FROM trading.fills o"
    " WHERE o.exchange = u.exchange AND o.exec_id = u.exec_id)"
    + " ON CONFLICT (exchange, exec_id, bot_id) DO NOTHING RETURNING exec_id"
)
#: The batch's ids travel as one JSON array (psycopg dumps a Python list element by
#: element in Python: 8 % of the writer's time for 1,000 ids).
_IDS = "exec_id IN (SELECT json_array_elements_text(%s::json))"
EXISTING_FILLS = (
    f"SELECT DISTINCT exec_id FROM trading.fills WHERE exchange = %s AND {_IDS}"
    f" UNION ALL SELECT exec_id FROM trading.funding WHERE exchange = %s AND {_IDS}"
)
#: What the ledger holds for executions that came again (see :func:`duplicates.stored_conflicts`).
STORED_FACTS = (
    "SELECT exec_id, 'fill', account, symbol, side, exec_type, sum(exec_qty), exec_price,"
    f" sum(exec_fee), fee_currency FROM trading.fills WHERE exchange = %s AND {_IDS}"
    " GROUP BY exec_id, account, symbol, side, exec_type, exec_price, fee_currency"
    " UNION ALL SELECT exec_id, 'funding', account, symbol, side, 'Funding', position_qty, NULL,"
    f" sum(funding_fee), NULL FROM trading.funding WHERE exchange = %s AND {_IDS}"
    " GROUP BY exec_id, account, symbol, side, position_qty"  # the shares of one execution
)
#: The facts compared, in the order of STORED_FACTS' columns after exec_id.
FACTS = ("stored as", "account", "symbol", "side", "exec_type", "exec_qty", "exec_price",
          "exec_fee", "fee_currency")  # fmt: skip
COPY_FILLS = f"COPY trading.fills ({', '.join(FILL_COLUMNS)}) FROM STDIN"

#: Funding is stored as one row per bot share (key: exec_id, bot_id): an execution the
#: table already holds, under any bot, is not inserted again.
INSERT_FUNDING = (
    _unnest_insert("funding", FUNDING_COLUMNS, FUNDING_TYPES)
    + _NOT_IN.format(other="fills")
    + " AND NOT EXISTS (SELECT 1 FROM trading.funding o"
    " WHERE o.exchange = u.exchange AND o.exec_id = u.exec_id)"
    + " ON CONFLICT (exchange, exec_id, bot_id) DO NOTHING RETURNING exec_id"
)
_TERMINAL_SQL = ", ".join(f"'{s}'" for s in TERMINAL_STATUSES)
_ORDER_UPDATABLE = [c for c in ORDER_COLUMNS if c not in ("exchange", "order_id", "created_time")]
UPSERT_ORDERS = (
    _unnest_insert("orders", ORDER_COLUMNS, ORDER_TYPES)
    + " ON CONFLICT (exchange, order_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _ORDER_UPDATABLE)
    + ", created_time = COALESCE(trading.orders.created_time, EXCLUDED.created_time)"
    + ", ingested_at = now()"
    + f" WHERE trading.orders.status NOT IN ({_TERMINAL_SQL})"
    " AND (trading.orders.updated_time IS NULL OR EXCLUDED.updated_time IS NULL"
    "      OR EXCLUDED.updated_time >= trading.orders.updated_time)"
    " AND EXCLUDED.cum_exec_qty >= trading.orders.cum_exec_qty"
)
INSERT_REJECTS = (
    "INSERT INTO trading.fill_rejects (account, topic, reason, message) "
    "SELECT account, topic, reason, message"
    " FROM json_to_recordset(%s::json) AS u(account text, topic text, reason text, message text)"
)

#: Column → SQL type over all tables (a name has the same type wherever it appears).
COLUMN_TYPES = {
    **dict(zip(ORDER_COLUMNS, ORDER_TYPES, strict=True)),
    **dict(zip(FUNDING_COLUMNS, FUNDING_TYPES, strict=True)),
    **dict(zip(FILL_COLUMNS, FILL_TYPES, strict=True)),
}
