"""The bots an operator can name: ``trading.bots`` minus retired bots and the reserved
``external`` row. Names match case-insensitively by bot id, bot code or display name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.errors import UserError
from core.ids import EXTERNAL_BOT
from core.operator.db import Database


@dataclass(frozen=True)
class Bot:
    bot_id: str
    bot_code: str
    bot_name: str
    status: str  # active | paused | stopped
    redis_db: int | None
    last_heartbeat: datetime | None


class UnknownBotError(UserError):
    def __init__(self, name: str, bots: list[Bot]) -> None:
        valid = ", ".join(f"{b.bot_id} ({b.bot_code})" for b in bots) or "no bots registered"
        super().__init__(f"Unknown bot {name!r}. Valid bots: {valid}")


async def load_bots(db: Database) -> list[Bot]:
    rows = await db.fetch(
        "SELECT bot_id, bot_code, bot_name, status, redis_db, last_heartbeat"
        " FROM trading.bots WHERE status <> 'retired' AND bot_id <> %s ORDER BY bot_id",
        (str(EXTERNAL_BOT),),
    )
    return [Bot(**row) for row in rows]


def resolve(name: str, bots: list[Bot]) -> Bot:
    wanted = name.strip().lower()
    for bot in bots:
        if wanted in (bot.bot_id, bot.bot_code, bot.bot_name.lower()):
            return bot
    raise UnknownBotError(name, bots)
