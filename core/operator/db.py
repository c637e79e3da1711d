"""PostgreSQL for an operator channel: a fresh connection per unit of work, through
PgBouncer, as the app role by default (the C2's: it may set bots' status and write the
audit). Transaction mode: PgBouncer is the pool, and a long-held client connection
would not survive its restarts any better than a new one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.config import Role, Settings
from core.db import async_connect


class Database:
    def __init__(
        self, settings: Settings, *, role: Role = Role.APP, application_name: str = "alpha-c2"
    ) -> None:
        self._settings = settings
        self._role = role
        self._application_name = application_name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """One transaction; committed on a clean exit, rolled back on an exception."""
        conn = await async_connect(
            self._settings, self._role, application_name=self._application_name
        )
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
