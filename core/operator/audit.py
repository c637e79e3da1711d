"""The command audit: every command — accepted, refused, pending, confirmed, expired,
cancelled, failed — is one ``trading.bot_commands`` row (docs/ledger.md invariant 8).

A command that changes state writes its row in the transaction of its effect
(:meth:`Auditor.effect`): the row is inserted first, the effect follows inside the same
transaction, and both commit together — before any reply is attempted, so an
undeliverable reply cannot lose the row. Refusals are recorded before the refusal is
sent, for the same reason.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from core.operator.db import Database

log = logging.getLogger(__name__)

OUTCOMES = frozenset(
    {"accepted", "refused", "pending", "confirmed", "expired", "failed", "cancelled"}
)


@dataclass(frozen=True)
class AuditEntry:
    command: str
    outcome: str
    user_id: int | None = None
    username: str | None = None
    chat_id: int | None = None
    args: Sequence[str] = field(default_factory=tuple)
    bot_id: str | None = None
    detail: str | None = None
    channel: str = "telegram"


class Auditor:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, entry: AuditEntry) -> None:
        """One row in a transaction of its own."""
        async with self._db.transaction() as conn:
            await self.insert(conn, entry)
        _log(entry)

    @asynccontextmanager
    async def effect(self, entry: AuditEntry) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A transaction that starts with ``entry``'s row: do the effect inside it. An
        exception rolls the row back with the effect (the caller records the failure)."""
        async with self._db.transaction() as conn:
            await self.insert(conn, entry)
            yield conn
        _log(entry)

    async def insert(self, conn: psycopg.AsyncConnection[Any], entry: AuditEntry) -> None:
        await insert_entry(conn, entry)


async def insert_entry(conn: psycopg.AsyncConnection[Any], entry: AuditEntry) -> None:
    """One audit row in ``conn``'s transaction (the CLI's verbs use it directly)."""
    if entry.outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {entry.outcome!r}")
    await conn.execute(
        "INSERT INTO trading.bot_commands"
        " (channel, user_id, username, chat_id, command, args, bot_id, outcome, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            entry.channel,
            entry.user_id,
            entry.username,
            entry.chat_id,
            entry.command,
            [a[:200] for a in entry.args][:20],
            entry.bot_id,
            entry.outcome,
            (entry.detail or "")[:1000] or None,
        ),
    )


def _log(entry: AuditEntry) -> None:
    log.info(
        "command %s %s",
        entry.command,
        entry.outcome,
        extra={"user_id": entry.user_id, "chat_id": entry.chat_id, "bot_id": entry.bot_id},
    )
