"""The one path every command takes: access check, the command itself, the audit row.

A command function gets an :class:`Invocation` and returns a :class:`Result` (the audit
outcome). Refusals and failures are audited too; a :class:`~core.errors.UserError`
raised by a command (an unknown bot name, a bad argument) is shown to the user and
audited as refused.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import ContextTypes

from core.errors import UserError
from telegram_c2.access import Level
from telegram_c2.audit import AuditEntry
from telegram_c2.registry import Bot, load_bots, resolve
from telegram_c2.services import C2

log = logging.getLogger(__name__)


@dataclass
class Invocation:
    c2: C2
    message: Message
    user_id: int
    username: str | None
    chat_id: int
    command: str
    args: list[str]

    async def reply(self, text: str, markup: InlineKeyboardMarkup | None = None) -> Message:
        return await self.message.reply_text(text, reply_markup=markup)

    async def reply_photo(self, png: bytes, caption: str) -> Message:
        return await self.message.reply_photo(photo=png, caption=caption)

    async def bots(self) -> list[Bot]:
        return await load_bots(self.c2.db)

    async def bot(self, name: str) -> Bot:
        return resolve(name, await self.bots())

    @property
    def requested_by(self) -> str:
        return f"telegram:{self.user_id}" + (f":{self.username}" if self.username else "")


@dataclass(frozen=True)
class Result:
    outcome: str = "accepted"
    detail: str | None = None
    bot_id: str | None = None


CommandFn = Callable[[Invocation], Awaitable[Result]]


@dataclass(frozen=True)
class Command:
    name: str
    level: Level
    usage: str
    help: str
    fn: CommandFn


class UsageError(UserError):
    pass


def handler(c2: C2, cmd: Command) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[Any]]:
    async def callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await run(c2, cmd.name, cmd.level, cmd.fn, update, list(context.args or []))

    return callback


async def run(
    c2: C2, name: str, level: Level, fn: CommandFn, update: Update, args: Sequence[str]
) -> None:
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None:
        return
    user_id = user.id if user else None
    entry = {
        "command": name,
        "user_id": user_id,
        "username": user.username if user else None,
        "chat_id": chat.id if chat else None,
        "args": tuple(args),
    }
    decision = c2.access.decide(user_id, entry["chat_id"], chat.type if chat else None, level)
    if not decision.allowed:
        await message.reply_text(decision.reply)
        await c2.audit.record(AuditEntry(outcome="refused", detail=decision.reason, **entry))
        return
    assert user is not None and chat is not None
    inv = Invocation(c2, message, user.id, user.username, chat.id, name, list(args))
    try:
        result = await fn(inv)
    except UserError as exc:
        await message.reply_text(str(exc))
        result = Result("refused", str(exc))
    except Exception as exc:
        log.exception("command /%s failed", name)
        await message.reply_text(f"/{name} failed ({type(exc).__name__}); see the C2 log.")
        result = Result("failed", f"{type(exc).__name__}: {exc}")
    await c2.audit.record(
        AuditEntry(outcome=result.outcome, detail=result.detail, bot_id=result.bot_id, **entry)
    )
