"""Read-only queries of the demo database, through PgBouncer like every service."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.config import Role
from demo.infra import Infra


def readonly(infra: Infra) -> psycopg.Connection[dict[str, Any]]:
    assert infra.pgbouncer is not None
    return psycopg.connect(
        host=infra.pgbouncer.host,
        port=infra.pgbouncer.port,
        user=infra.role(Role.READONLY),
        password=infra.passwords[Role.READONLY],
        dbname=infra.database,
        autocommit=True,
        connect_timeout=5,
        prepare_threshold=None,  # transaction pooling: no server-side prepares
        row_factory=dict_row,
    )


def query(infra: Infra, text: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    with readonly(infra) as conn:
        return conn.execute(text, params).fetchall()
