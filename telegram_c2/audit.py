"""The command audit: every command — accepted, refused, pending, confirmed, expired,
cancelled, failed — is one ``trading.bot_commands`` row (docs/ledger.md invariant 8)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from telegram_c2.db import Database

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
        if entry.outcome not in OUTCOMES:
            raise ValueError(f"unknown audit outcome {entry.outcome!r}")
        async with self._db.transaction() as conn:
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
                    list(entry.args),
                    entry.bot_id,
                    entry.outcome,
                    (entry.detail or "")[:1000] or None,
                ),
            )
        log.info(
            "command %s %s",
            entry.command,
            entry.outcome,
            extra={"user_id": entry.user_id, "chat_id": entry.chat_id, "bot_id": entry.bot_id},
        )
