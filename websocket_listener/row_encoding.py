"""Ledger rows as the group commit sends them: a JSON document, or ``COPY`` rows.

Money travels as the exact decimal text (``str(Decimal)``, which ``numeric`` reads back
unchanged), never as a float. Apart from the writer because this is where the writer's
CPU goes (the comments below say what each choice saved in a profile).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from core.fills import Fill
from core.ids import EXCHANGE
from websocket_listener.ledger_statements import COLUMN_TYPES


def fill_copy_row(f: Fill) -> tuple[Any, ...]:
    """One ``COPY_FILLS`` row; psycopg writes Decimals as their exact text."""
    return (
        EXCHANGE, f.account, f.category, f.exec_id, f.bot_id, f.symbol, f.order_id,
        f.order_link_id, f.reason, f.side.value, f.exec_price, f.exec_qty, f.exec_value,
        f.exec_fee, f.fee_currency, f.is_maker, f.exec_type, f.exec_time, f.seq, f.source,
        raw_text(f.raw), f.attribution,
    )  # fmt: skip


def raw_text(raw: Any) -> str:
    """The message item as JSON text, for the ``raw`` column. orjson: ``json.dumps`` of
    a 35-key execution took 21 µs, a fifth of the listener's per-fill CPU; orjson 2 µs."""
    if isinstance(raw, str):
        return raw
    try:
        return orjson.dumps(raw, default=_json_value).decode()
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: the slow, general path
        return json.dumps(raw, separators=(",", ":"), default=_json_value)


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: numeric parses it back digit for digit
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _as_text(value: Any) -> Any:
    return None if value is None else str(value)


def _as_time(value: Any) -> Any:
    return None if value is None else value.isoformat()


#: Values converted in Python before ``json.dumps`` (a ``default=`` callback per value
#: costs more than the conversion): exact decimal text, ISO timestamps, enum values.
_CONVERT = {"numeric": _as_text, "timestamptz": _as_time}


def _rows_json(rows: Sequence[Any], names: Sequence[str], types: Sequence[str]) -> tuple[str]:
    """The rows as one JSON array of objects keyed by column (the statement's parameter)."""
    plain = [n for n, t in zip(names, types, strict=True)
             if n not in ("exchange", "raw", "side") and t not in _CONVERT]  # fmt: skip
    converted = [(n, _CONVERT[t]) for n, t in zip(names, types, strict=True) if t in _CONVERT]
    has_side, has_raw = "side" in names, "raw" in names
    out = []
    for row in rows:
        obj = {name: getattr(row, name) for name in plain}
        for name, convert in converted:
            obj[name] = convert(getattr(row, name))
        obj["exchange"] = EXCHANGE
        if has_side:
            obj["side"] = str(row.side)  # a StrEnum: its value, not its name
        if has_raw:
            raw = row.raw
            obj["raw"] = json.loads(raw, parse_float=Decimal) if isinstance(raw, str) else raw
        out.append(obj)
    return (json.dumps(out, separators=(",", ":"), default=_json_value),)


def columns_json(rows: Sequence[Any], names: Sequence[str]) -> tuple[str]:
    """The statement parameter for ``rows``' ``names`` columns, each typed as its table has it."""
    return _rows_json(rows, names, [COLUMN_TYPES.get(n, "text") for n in names])
