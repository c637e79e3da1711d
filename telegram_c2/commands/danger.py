"""/flatten BOT, /forceexit BOT SYMBOL, /kill, /unkill, /assign EXEC_ID BOT REASON and
/ackdrift BOT|ACCOUNT [REASON]: each closes positions, changes what every bot may do,
rewrites whose a fill is or lets bots enter despite drift, so each needs a confirmation
(docs/ledger.md invariant 8).

The command itself only creates a one-time token (audited ``pending`` before the buttons
are sent) and shows two inline buttons. Only a press by the same admin, in the same chat,
under the same message, within the TTL acts (``confirmed``, written in the transaction
of the effect); a late press or the sweeper records ``expired``; Cancel records
``cancelled``. Every other press — a stranger, a viewer, another chat, a used or unknown
token, data that is none of our buttons — is audited as refused before it is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import psycopg
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, MaybeInaccessibleMessage, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from core.errors import UserError
from core.operator import dangerous, drift_ack
from core.operator.audit import AuditEntry
from core.operator.confirm import Outcome, Pending
from core.operator.fill_claims import (
    DEFAULT_TIMEOUT_SECONDS,
    no_answer_text,
    request_claim_async,
)
from core.operator.registry import load_bots
from core.outages import unreachable
from telegram_c2 import fmt, ledger
from telegram_c2.access import Level
from telegram_c2.commands.base import Command, Invocation, Result, UsageError, audit_or_log
from telegram_c2.services import C2

log = logging.getLogger(__name__)

CONFIRM, CANCEL = "c2:ok:", "c2:no:"
#: Matches the callback data of our buttons (CallbackQueryHandler pattern).
PATTERN = r"^c2:(ok|no):"
EXPIRED_TEXT = "Expired: nothing was done."
REFUSED_DETAIL = {
    Outcome.NOT_YOURS: "not the requesting admin",
    Outcome.ELSEWHERE: "pressed in another chat",
    Outcome.UNKNOWN: "unknown token",
}


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
    book = inv.c2.confirmations
    item = book.create(
        action,
        user_id=inv.user_id,
        username=inv.username,
        chat_id=inv.chat_id,
        args=tuple(inv.args),
        bot_id=bot_id,
    )
    try:
        async with inv.effect(
            f"awaiting confirmation (expires {item.expires_at.isoformat()})", bot_id, "pending"
        ):
            pass  # the effect is the token, usable only once this row is committed
    except BaseException:
        book.discard(item.token)
        raise
    seconds = int(book.ttl.total_seconds())
    sent = await inv.reply(f"{question}\nConfirm within {seconds} s.", _buttons(item))
    if sent is None:  # nobody saw the buttons: the token lapses and is swept as expired
        return Result("pending")
    item.message_id = sent.message_id
    return Result("pending")


async def flatten(inv: Invocation) -> Result:
    if len(inv.args) != 1:
        raise UsageError("Usage: /flatten BOT")
    bot = await inv.bot(inv.args[0])
    return await _ask(
        inv, "flatten", bot.bot_id, f"Flatten {bot.bot_id}? It closes its own positions."
    )


async def forceexit(inv: Invocation) -> Result:
    """Freqtrade's /forceexit, by symbol: the bot closes its own position there at market."""
    if len(inv.args) != 2:
        raise UsageError("Usage: /forceexit BOT SYMBOL")
    bot = await inv.bot(inv.args[0])
    symbol = inv.args[1].upper()
    view = await ledger.load(inv.c2.db, bot.bot_id)
    held = {p.symbol: p for p in view.open_positions(bot.bot_id)}
    if symbol not in held:
        open_ = ", ".join(sorted(held)) or "none"
        raise UserError(f"{bot.bot_id} holds no position in {symbol} (open: {open_}).")
    p = held[symbol]
    side = "LONG" if p.qty > 0 else "SHORT"
    return await _ask(
        inv,
        "forceexit",
        bot.bot_id,
        f"Force exit {bot.bot_id} {symbol} ({side} {fmt.qty(abs(p.qty))} in the ledger) at "
        "market? Only that symbol's own position; its resting orders there are cancelled.",
    )


async def kill(inv: Invocation) -> Result:
    return await _ask(
        inv, "kill", None, "KILL: set the kill flag, pause every bot, then flatten every bot?"
    )


async def unkill(inv: Invocation) -> Result:
    flag = await inv.c2.control.kill_flag()
    if flag is None:
        await inv.reply("The kill switch is not set.")
        return Result(detail="not set")
    return await _ask(
        inv, "unkill", None,
        f"Lift the kill switch (set by {flag.get('requested_by')} at {flag.get('at')})? "
        "Every bot stays paused: /resume BOT or /resume all lets it enter again.",
    )  # fmt: skip


async def assign(inv: Invocation) -> Result:
    """Give an ``external`` fill to a bot on its account; the listener decides and
    answers (docs/attribution.md#operator-claims)."""
    if len(inv.args) < 3:
        raise UsageError("Usage: /assign EXEC_ID BOT REASON")
    bot = await inv.bot(inv.args[1])
    reason = " ".join(inv.args[2:])
    return await _ask(
        inv,
        "assign",
        bot.bot_id,
        f"Assign fill {inv.args[0]} from external to {bot.bot_id} ({reason})? Its position"
        " and P&L move to the bot.",
    )


async def ackdrift(inv: Invocation) -> Result:
    """Bots may enter again despite the open drift on a bot's symbols or an account, as
    the drift is now (core/operator/drift_ack.py)."""
    if not inv.args:
        raise UsageError("Usage: /ackdrift BOT|ACCOUNT [REASON]")
    async with inv.c2.db.transaction() as conn:
        scope = await drift_ack.scope_of(conn, inv.args[0])
        waiting = await drift_ack.unacknowledged(conn, scope)
    if not waiting:
        await inv.reply(f"No unacknowledged open drift on {scope.describe()}.")
        return Result(detail="nothing to acknowledge")
    lines = "\n".join(f"• {d.describe()}" for d in waiting)
    return await _ask(
        inv, "ackdrift", scope.bot_id,
        f"Acknowledge {len(waiting)} open drift(s) on {scope.describe()}?\n{lines}\n"
        "Bots enter there again while these quantities stand; a drift that changes or a new"
        " one holds them again.",
    )  # fmt: skip


async def _ackdrift(c2: C2, item: Pending, by: str) -> str:
    """The drift as it is at the press (the one the audit row names) is acknowledged, in
    the transaction of the ``confirmed`` row."""
    reason = " ".join(item.args[1:]) or None
    async with c2.db.transaction() as conn:
        scope = await drift_ack.scope_of(conn, item.args[0])
        waiting = await drift_ack.unacknowledged(conn, scope)
    if not waiting:
        text = f"No unacknowledged open drift left on {scope.describe()}: nothing was done."
        await audit_or_log(c2, _entry(item, "confirmed", text))
        return text
    text = (
        f"Drift acknowledged on {scope.describe()}: {drift_ack.describe(waiting)}."
        " Bots enter there again; a change holds them again."
    )
    async with c2.audit.effect(_entry(item, "confirmed", text)) as conn:
        done = await drift_ack.acknowledge(conn, scope, by, reason)
    if len(done) != len(waiting):  # trade sync moved between the two reads
        text += f" ({len(done)} acknowledged as found at the press.)"
    return text


async def _assign(c2: C2, item: Pending, by: str) -> str:
    """The listener applies the claim (it alone writes the ledger); the audit row,
    written after its answer, says what it answered."""
    exec_id, bot_id, reason = item.args[0], item.args[1], " ".join(item.args[2:])
    answer = await request_claim_async(
        c2.redis.infra_waiting(DEFAULT_TIMEOUT_SECONDS), exec_id, bot_id, reason, by
    )
    if answer is None:
        text = no_answer_text(DEFAULT_TIMEOUT_SECONDS).capitalize() + "."
        await audit_or_log(c2, _entry(item, "failed", text))
    elif answer.ok:
        text = answer.text[:1].upper() + answer.text[1:] + "."
        await audit_or_log(c2, _entry(item, "confirmed", text))
    else:
        text = f"Refused by the listener: {answer.text}."
        await audit_or_log(c2, _entry(item, "refused", text))
    return text


async def _execute(c2: C2, item: Pending) -> str:
    """The confirmed effect (core/operator/dangerous.py, shared with the HTTP API), in one
    transaction with its ``confirmed`` row."""
    by = f"telegram:{item.user_id}" + (f":{item.username}" if item.username else "")
    if item.action == "assign":  # the listener decides: C2 only, not a shared effect
        return await _assign(c2, item, by)
    if item.action == "ackdrift":  # core/operator/drift_ack.py, shared with the CLI
        return await _ackdrift(c2, item, by)
    done = await dangerous.execute(
        c2.control,
        lambda text: c2.audit.effect(_entry(item, "confirmed", text)),
        action=item.action,
        bots=await load_bots(c2.db),
        bot_id=item.bot_id,
        args=item.args,
        requested_by=by,
        at=c2.clock(),
    )
    return done.detail


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


async def _quietly(call: Awaitable[Any]) -> None:
    """Answers to a press: the audit is already written, so a failure is only logged."""
    try:
        await call
    except TelegramError as exc:
        log.warning("button answer not delivered: %s: %s", type(exc).__name__, exc)


def _where(message: MaybeInaccessibleMessage | None) -> tuple[int | None, int | None, str | None]:
    if message is None:
        return None, None, None
    return message.chat.id, message.message_id, message.chat.type


async def refuse_press(c2: C2, update: Update, command: str, detail: str, answer: str) -> None:
    """Audit a refused press, then answer it."""
    query = update.callback_query
    assert query is not None
    chat_id, _, _ = _where(query.message)
    await audit_or_log(
        c2,
        AuditEntry(
            command=command,
            outcome="refused",
            user_id=query.from_user.id,
            username=query.from_user.username,
            chat_id=chat_id,
            args=((query.data or "")[:64],),
            detail=detail,
        ),
    )
    await _quietly(query.answer(answer))


async def on_other_button(c2: C2, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A press whose data is none of our buttons (a stale client, a crafted query)."""
    if update.callback_query is not None:
        await refuse_press(c2, update, "button", "unknown button", "Not available.")


async def on_button(c2: C2, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    user = query.from_user
    chat_id, message_id, chat_type = _where(query.message)
    confirm = query.data.startswith(CONFIRM)
    token = query.data.split(":", 2)[2]
    decision = c2.access.decide(user.id, chat_id, chat_type, Level.WRITE)
    if not decision.allowed:
        action = "confirm" if confirm else "cancel"
        await refuse_press(c2, update, action, decision.reason, decision.reply)
        return
    if not confirm:
        item = c2.confirmations.cancel(token, user.id, chat_id, message_id)
        if item is None:
            await refuse_press(c2, update, "cancel", "nothing to cancel", "Nothing to cancel.")
            return
        await audit_or_log(c2, _entry(item, "cancelled", "cancel pressed"))
        await _quietly(query.answer("Cancelled."))
        await _quietly(query.edit_message_text("Cancelled: nothing was done."))
        return
    outcome, item = c2.confirmations.take(token, user.id, chat_id, message_id)
    if outcome is Outcome.CONFIRMED:
        assert item is not None
        try:
            text = await _execute(c2, item)
        except Exception as exc:
            away = unreachable(exc)
            if away is None:  # a bug: its traceback
                log.exception("confirmed %s failed", item.action)
                reason, shown = f"{type(exc).__name__}: {exc}", f" ({type(exc).__name__})."
            else:  # the effect and its audit row share a transaction that never began
                log.warning("confirmed %s failed: %s unreachable", item.action, away)
                reason = f"{away} unreachable ({type(exc).__name__})"
                shown = f": {away} is unreachable; try again shortly."
            await audit_or_log(c2, _entry(item, "failed", reason))
            await _quietly(query.answer("Failed."))
            await _quietly(query.edit_message_text(f"{item.action} FAILED{shown}"))
            return
        await _quietly(query.answer("Done."))
        await _quietly(query.edit_message_text(text))
    elif outcome is Outcome.EXPIRED:
        assert item is not None
        if c2.confirmations.mark_expiry_recorded(item):
            await audit_or_log(c2, _entry(item, "expired", "confirmed after expiry"))
        else:  # the sweeper already recorded the expiry; the press is still one row
            await refuse_press(c2, update, "confirm", "expired", "Expired.")
            return
        await _quietly(query.answer("Expired."))
        await _quietly(query.edit_message_text(EXPIRED_TEXT))
    else:
        await refuse_press(
            c2,
            update,
            "confirm",
            REFUSED_DETAIL[outcome],
            "Only the admin who asked, where they asked, can confirm."
            if outcome in (Outcome.NOT_YOURS, Outcome.ELSEWHERE)
            else "This confirmation is no longer valid.",
        )


async def sweep_expired(c2: C2, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Audit every confirmation that lapsed unanswered, and say so in its chat."""
    lapsed = c2.confirmations.expired()  # marks them recorded: put back what is not
    for done, item in enumerate(lapsed):
        try:
            await c2.audit.record(_entry(item, "expired", "not confirmed in time"))
        except psycopg.Error as exc:  # the database is away: the next round records them
            c2.confirmations.put_back(lapsed[done:])
            log.warning(
                "could not record %d expired confirmation(s): the database is unreachable "
                "(%s); the next sweep tries again", len(lapsed) - done, type(exc).__name__,
            )  # fmt: skip
            return
        if item.message_id is not None:
            try:
                await context.bot.edit_message_text(
                    EXPIRED_TEXT, chat_id=item.chat_id, message_id=item.message_id
                )
            except TelegramError as exc:  # the message may be gone; the audit is what counts
                log.warning("could not mark confirmation expired: %s", exc)


COMMANDS = [
    Command("flatten", Level.WRITE, "/flatten BOT", "close one bot's positions (confirm)", flatten),
    Command(
        "forceexit",
        Level.WRITE,
        "/forceexit BOT SYMBOL",
        "close one bot's position in one symbol (confirm)",
        forceexit,
    ),
    Command("kill", Level.WRITE, "/kill", "kill flag, pause all, flatten all (confirm)", kill),
    Command(
        "unkill", Level.WRITE, "/unkill", "lift the kill flag; bots stay paused (confirm)", unkill
    ),
    Command(
        "assign",
        Level.WRITE,
        "/assign EXEC_ID BOT REASON",
        "give an external fill to a bot on its account (confirm)",
        assign,
    ),
    Command(
        "ackdrift",
        Level.WRITE,
        "/ackdrift BOT|ACCOUNT [REASON]",
        "let bots enter despite the drift as it is now (confirm)",
        ackdrift,
    ),
]
