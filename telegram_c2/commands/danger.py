"""/flatten BOT and /kill: destructive, so each needs a confirmation (docs/ledger.md invariant 8).

The command itself only creates a one-time token (audited ``pending``) and shows two
inline buttons. Only a press by the same admin within the TTL acts (``confirmed``); a
late press or the sweeper records ``expired``; Cancel records ``cancelled``.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from telegram_c2.access import Level, Rank
from telegram_c2.audit import AuditEntry
from telegram_c2.commands.base import Command, Invocation, Result, UsageError
from telegram_c2.confirm import Outcome, Pending
from telegram_c2.registry import load_bots, resolve
from telegram_c2.services import C2

log = logging.getLogger(__name__)

CONFIRM, CANCEL = "c2:ok:", "c2:no:"
#: Matches the callback data of our buttons (CallbackQueryHandler pattern).
PATTERN = r"^c2:(ok|no):"
EXPIRED_TEXT = "Expired: nothing was done."


def _buttons(item: Pending) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Confirm", callback_data=CONFIRM + item.token),
                InlineKeyboardButton("Cancel", callback_data=CANCEL + item.token),
            ]
        ]
    )


async def _ask(inv: Invocation, action: str, bot_id: str | None, question: str) -> Result:
    item = inv.c2.confirmations.create(
        action,
        user_id=inv.user_id,
        username=inv.username,
        chat_id=inv.chat_id,
        args=tuple(inv.args),
        bot_id=bot_id,
    )
    seconds = int(inv.c2.confirmations.ttl.total_seconds())
    sent = await inv.reply(f"{question}\nConfirm within {seconds} s.", _buttons(item))
    item.message_id = sent.message_id
    return Result(
        "pending", f"awaiting confirmation (expires {item.expires_at.isoformat()})", bot_id
    )


async def flatten(inv: Invocation) -> Result:
    if len(inv.args) != 1:
        raise UsageError("Usage: /flatten BOT")
    bot = await inv.bot(inv.args[0])
    return await _ask(
        inv, "flatten", bot.bot_id, f"Flatten {bot.bot_id}? It closes its own positions."
    )


async def kill(inv: Invocation) -> Result:
    return await _ask(
        inv, "kill", None, "KILL: set the kill flag, pause every bot, then flatten every bot?"
    )


async def _execute(c2: C2, item: Pending) -> str:
    bots = await load_bots(c2.db)
    by = f"telegram:{item.user_id}" + (f":{item.username}" if item.username else "")
    if item.action == "flatten":
        assert item.bot_id is not None
        bot = resolve(item.bot_id, bots)
        command_id = await c2.control.flatten(bot, by)
        return f"Flatten sent to {bot.bot_id} (command {command_id})."
    ids = await c2.control.kill(bots, by, c2.clock())
    return f"Kill flag set; {len(bots)} bot(s) paused; {len(ids)} flatten command(s) sent."


def _entry(item: Pending, outcome: str, detail: str) -> AuditEntry:
    return AuditEntry(
        command=item.action,
        outcome=outcome,
        user_id=item.user_id,
        username=item.username,
        chat_id=item.chat_id,
        args=item.args,
        bot_id=item.bot_id,
        detail=detail,
    )


async def on_button(c2: C2, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    user = query.from_user
    chat = query.message.chat if query.message else None
    decision = c2.access.decide(
        user.id, chat.id if chat else None, chat.type if chat else None, Level.WRITE
    )
    confirm = query.data.startswith(CONFIRM)
    token = query.data.split(":", 2)[2]
    if not decision.allowed or c2.access.rank(user.id) is not Rank.ADMIN:
        await query.answer(decision.reply or "Not allowed.")
        await c2.audit.record(
            AuditEntry(
                command="confirm",
                outcome="refused",
                user_id=user.id,
                username=user.username,
                chat_id=chat.id if chat else None,
                detail=decision.reason or "not an admin",
            )
        )
        return
    if not confirm:
        item = c2.confirmations.cancel(token, user.id)
        if item:
            await c2.audit.record(_entry(item, "cancelled", "cancel pressed"))
            await query.answer("Cancelled.")
            await query.edit_message_text("Cancelled: nothing was done.")
        else:
            await query.answer("Nothing to cancel.")
        return
    outcome, item = c2.confirmations.take(token, user.id)
    if outcome is Outcome.CONFIRMED:
        assert item is not None
        try:
            text = await _execute(c2, item)
        except Exception as exc:
            log.exception("confirmed %s failed", item.action)
            await c2.audit.record(_entry(item, "failed", f"{type(exc).__name__}: {exc}"))
            await query.answer("Failed.")
            await query.edit_message_text(f"{item.action} FAILED ({type(exc).__name__}).")
            return
        await c2.audit.record(_entry(item, "confirmed", text))
        await query.answer("Done.")
        await query.edit_message_text(text)
    elif outcome is Outcome.EXPIRED:
        assert item is not None
        if c2.confirmations.mark_expiry_recorded(item):
            await c2.audit.record(_entry(item, "expired", "confirmed after expiry"))
        await query.answer("Expired.")
        await query.edit_message_text(EXPIRED_TEXT)
    else:
        detail = "not the requesting admin" if outcome is Outcome.NOT_YOURS else "unknown token"
        await c2.audit.record(
            AuditEntry(
                command="confirm",
                outcome="refused",
                user_id=user.id,
                username=user.username,
                chat_id=chat.id if chat else None,
                detail=detail,
            )
        )
        await query.answer(
            "Only the admin who asked can confirm."
            if outcome is Outcome.NOT_YOURS
            else "This confirmation is no longer valid."
        )


async def sweep_expired(c2: C2, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Audit every confirmation that lapsed unanswered, and say so in its chat."""
    for item in c2.confirmations.expired():
        await c2.audit.record(_entry(item, "expired", "not confirmed in time"))
        if item.message_id is not None:
            try:
                await context.bot.edit_message_text(
                    EXPIRED_TEXT, chat_id=item.chat_id, message_id=item.message_id
                )
            except TelegramError as exc:  # the message may be gone; the audit is what counts
                log.warning("could not mark confirmation expired: %s", exc)


COMMANDS = [
    Command("flatten", Level.WRITE, "/flatten BOT", "close one bot's positions (confirm)", flatten),
    Command("kill", Level.WRITE, "/kill", "kill flag, pause all, flatten all (confirm)", kill),
]
