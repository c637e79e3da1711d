"""The one path every command takes: the gate (access, edited, stale, rate), the command
itself, the audit row, the reply.

A command function gets an :class:`Invocation` and returns a :class:`Result` (the audit
outcome). A command that changes state does so inside :meth:`Invocation.effect`, which
writes its audit row in the same transaction; every other outcome — refusals included —
is recorded here before anything is sent back. Replies never raise: a reply Telegram
will not take (429, a blocked bot, a network error) is logged and noted in the audit
detail where the row is still to be written. A :class:`~core.errors.UserError` raised by
a command (an unknown bot name, a bad argument) is shown to the user and audited as
refused.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from core.errors import UserError
from core.operator.audit import AuditEntry
from core.operator.registry import Bot, load_bots, resolve
from core.outages import unreachable
from telegram_c2 import fmt
from telegram_c2.access import NEUTRAL_REFUSAL, Level
from telegram_c2.services import C2

log = logging.getLogger(__name__)


async def safe_send(send: Awaitable[Message]) -> tuple[Message | None, str | None]:
    """Await a Bot API send; (message, None) or (None, why it was not delivered)."""
    try:
        return await send, None
    except TelegramError as exc:
        log.warning("reply not delivered: %s: %s", type(exc).__name__, exc)
        return None, f"{type(exc).__name__}: {exc}"


@dataclass
class Invocation:
    c2: C2
    message: Message
    user_id: int
    username: str | None
    chat_id: int
    command: str
    args: list[str]
    #: True once the command's audit row is committed with its effect.
    recorded: bool = False
    #: Why a reply was not delivered (for the audit detail).
    undelivered: list[str] = field(default_factory=list)

    async def reply(self, text: str, markup: InlineKeyboardMarkup | None = None) -> Message | None:
        return await self._sent(self.message.reply_text(fmt.clip(text), reply_markup=markup))

    async def reply_photo(self, png: bytes, caption: str) -> Message | None:
        return await self._sent(self.message.reply_photo(photo=png, caption=caption))

    async def _sent(self, send: Awaitable[Message]) -> Message | None:
        message, why = await safe_send(send)
        if why:
            self.undelivered.append(why)
        return message

    def entry(
        self, outcome: str, detail: str | None = None, bot_id: str | None = None
    ) -> AuditEntry:
        return AuditEntry(
            command=self.command,
            outcome=outcome,
            user_id=self.user_id,
            username=self.username,
            chat_id=self.chat_id,
            args=tuple(self.args),
            bot_id=bot_id,
            detail=detail,
        )

    @asynccontextmanager
    async def effect(
        self, detail: str | None, bot_id: str | None = None, outcome: str = "accepted"
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """The state change and its audit row, in one transaction (row first)."""
        async with self.c2.audit.effect(self.entry(outcome, detail, bot_id)) as conn:
            yield conn
        self.recorded = True

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


def refusal(c2: C2, update: Update, level: Level) -> tuple[str, str | None] | None:
    """(audit reason, reply or ``None`` for silence) if the message must not run."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    assert message is not None
    user_id, chat_id = (user.id if user else None), (chat.id if chat else None)
    decision = c2.access.decide(user_id, chat_id, chat.type if chat else None, level)
    if not decision.allowed:
        if decision.reply == NEUTRAL_REFUSAL and not c2.gate.neutral.first((user_id, chat_id)):
            return decision.reason, None  # said once; a stranger's flood gets no answers
        return decision.reason, decision.reply
    assert user_id is not None
    stale = c2.gate.stale(message, edited=update.edited_message is not None)
    if stale:
        return stale
    allowed, warn = c2.gate.rate.allow(user_id)
    if not allowed:
        per_minute = c2.gate.rate.per_minute
        reply = f"Too many commands: at most {per_minute} a minute. Try again shortly."
        return f"rate limited ({per_minute} a minute)", reply if warn else None
    return None


def _with(detail: str | None, undelivered: list[str]) -> str | None:
    if not undelivered:
        return detail
    note = "reply not delivered: " + "; ".join(undelivered)
    return f"{detail}; {note}" if detail else note


async def run(
    c2: C2, name: str, level: Level, fn: CommandFn, update: Update, args: Sequence[str]
) -> None:
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None:
        return
    entry: dict[str, Any] = {
        "command": name,
        "user_id": user.id if user else None,
        "username": user.username if user else None,
        "chat_id": chat.id if chat else None,
        "args": tuple(args),
    }
    refused = refusal(c2, update, level)
    if refused:
        reason, reply = refused
        await audit_or_log(c2, AuditEntry(outcome="refused", detail=reason, **entry))
        if reply:
            await safe_send(message.reply_text(reply))
        return
    assert user is not None and chat is not None
    inv = Invocation(c2, message, user.id, user.username, chat.id, name, list(args))
    answer: str | None = None
    try:
        result = await fn(inv)
    except Exception as exc:
        result, answer = _failure(name, exc)
    if inv.recorded:
        if inv.undelivered:
            log.warning("/%s done and audited, but its reply was not delivered", name)
    else:
        detail = _with(result.detail, inv.undelivered)
        await audit_or_log(
            c2, AuditEntry(outcome=result.outcome, detail=detail, bot_id=result.bot_id, **entry)
        )
    if answer:
        await safe_send(message.reply_text(answer))


def _failure(name: str, exc: Exception) -> tuple[Result, str]:
    """What a command that raised is audited as, and what its user reads.

    PostgreSQL or Redis away comes first: the database's connection error is also a
    ``UserError`` (the CLI prints it as one line), but its text names the database's
    host, role and name, and the user can do nothing about it but try again."""
    away = unreachable(exc)
    if away is not None:
        log.warning("/%s failed: %s unreachable (%s)", name, away, type(exc).__name__)
        reason = f"{away} unreachable ({type(exc).__name__})"
        return Result("failed", reason), f"/{name}: {away} is unreachable; try again shortly."
    if isinstance(exc, UserError):
        return Result("refused", str(exc)), str(exc)
    log.exception("command /%s failed", name)
    reason = f"{type(exc).__name__}: {exc}"
    return Result("failed", reason), f"/{name} failed ({type(exc).__name__}); see the C2 log."


async def audit_or_log(c2: C2, entry: AuditEntry) -> None:
    """Record ``entry``; with the database away, the log keeps it instead (a warning
    with who, what and how it ended), and the user still gets the answer."""
    try:
        await c2.audit.record(entry)
    except Exception as exc:
        away = unreachable(exc)
        if away is None:
            raise
        log.warning(
            "/%s by user %s (chat %s) %s, not audited: %s unreachable; args %s, detail %s",
            entry.command, entry.user_id, entry.chat_id, entry.outcome, away,
            list(entry.args), entry.detail,
        )  # fmt: skip
