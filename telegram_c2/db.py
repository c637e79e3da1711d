"""PostgreSQL for the C2: a fresh connection per unit of work, as the app role, through
PgBouncer (transaction mode: PgBouncer is the pool, and a long-held client connection
would not survive its restarts any better than a new one)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.config import Role, Settings
from core.db import async_connect


class Database:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """One transaction; committed on a clean exit, rolled back on an exception."""
        conn = await async_connect(self._settings, Role.APP, application_name="alpha-c2")
        conn.row_factory = dict_row
        try:
            async with conn.transaction():
                yield conn
        finally:
            await conn.close()

    async def fetch(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        async with self.transaction() as conn:
            cur = await conn.execute(sql, params)
            return list(await cur.fetchall())
