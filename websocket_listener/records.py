"""Envelopes → ledger rows: parse (``core.exchange_parsing``), attribute (``core.attribution``).

:meth:`Recorder.prepare` does the work on the thread that received the message, while
the writer waits for the database (at full load parsing and attribution were half of
the writer's time): it parses every execution, and attributes those that the bot
registry alone decides (a link id of the account's bot, a bound account, or an ordinary
trade that no rule claims), with a registry no older than the writer itself would use.
Funding and exchange-generated executions that no link id of the account claims are
decided by who held the symbol as of their own time: they are attributed provisionally
on the writer thread (``Rule.NO_HOLDER``, the account's fallback bot) and settled from
the ledger in the commit (``websocket_listener.holder_rule``); so is everything not
prepared (the spool, replays). A message that cannot be parsed never raises out of
here: it becomes a ``trading.fill_rejects`` row, is counted, and its reason is logged
once.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from core import redis_keys
from core.attribution import Attributor, BotRecord, Rule
from core.exchange_fields import MalformedMessage
from core.exchange_parsing import parse_execution, parse_order
from core.fills import Execution, Fill, FundingPayment
from core.ids import EXTERNAL_BOT, AccountName, BotCode, BotId
from websocket_listener import metrics
from websocket_listener.batch import Batch, OrderRow, RejectRow, raw_json
from websocket_listener.envelope import EXECUTION, ORDER, Envelope

log = logging.getLogger(__name__)

#: Topics we subscribe to for other reasons; their messages are not ledger data.
NOT_STORED = frozenset({"wallet", "position", "execution.fast", "greeks"})
#: How long a snapshot of ``trading.bots`` is trusted before it is read again.
BOTS_TTL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class BotRow:
    bot_id: BotId
    bot_code: BotCode
    account: AccountName
    status: str
    redis_db: int | None

    @property
    def mirror_db(self) -> int | None:
        """Where the listener mirrors this bot's positions and fills: its own DB, else the
        shared one; ``None`` only for ``external``, whose positions live in the ledger."""
        return None if self.bot_id == EXTERNAL_BOT else redis_keys.bot_db(self.redis_db)


def load_bots(conn: psycopg.Connection[Any]) -> list[BotRow]:
    rows = conn.execute(
        "SELECT bot_id, bot_code, account, status, redis_db FROM trading.bots ORDER BY bot_id"
    ).fetchall()
    conn.commit()  # end the read transaction: PgBouncer gives the server back
    return [BotRow(BotId(r[0]), BotCode(r[1]), AccountName(r[2]), r[3], r[4]) for r in rows]


@functools.lru_cache(maxsize=256)
def _account(name: str) -> AccountName:
    """Account names repeat on every message: validate each one once."""
    return AccountName(name)


def _parse(env: Envelope, item: Any) -> Execution | MalformedMessage | ValueError:
    try:
        return parse_execution(item, _account(env.account), env.source)
    except (MalformedMessage, ValueError) as exc:
        return exc


def _prepared(
    env: Envelope, item: Any, attributor: Attributor | None
) -> Fill | Execution | MalformedMessage | ValueError:
    execution = _parse(env, item)
    if attributor is None or isinstance(execution, Exception) or execution.is_funding:
        return execution
    attribution = attributor.attribute(execution)
    if attribution.rule is Rule.NO_HOLDER:
        return execution  # the holders decide, in the commit (the writer records the fallback)
    return Fill.of(execution, attribution.bot_id, attribution.link, attribution.rule.value)


class Recorder:
    """Turns envelopes into a :class:`Batch`; keeps the bot registry fresh."""

    def __init__(self) -> None:
        self.bots: list[BotRow] = []
        #: (attributor, when its registry was loaded) in one reference: ``prepare`` reads
        #: both at once on other threads.
        self._registry = (Attributor([]), -1e9)
        self._logged_reasons: set[str] = set()

    def refresh_bots(self, conn: psycopg.Connection[Any], *, force: bool = False) -> None:
        if not force and time.monotonic() - self._registry[1] < BOTS_TTL_SECONDS:
            return
        self.bots = load_bots(conn)
        records = [BotRecord(b.bot_id, b.bot_code, b.account, b.status) for b in self.bots]
        self._registry = (Attributor(records), time.monotonic())

    def fallbacks(self) -> dict[str, BotId]:
        """Per account of a registered bot, who takes what no holder can."""
        attributor = self._registry[0]
        return {b.account: attributor.fallback(b.account) for b in self.bots}

    def to_batch(self, conn: psycopg.Connection[Any], envelopes: Iterable[Envelope]) -> Batch:
        self.refresh_bots(conn)
        batch = Batch()
        for env in envelopes:
            self._add(batch, env)
        # The holder rule may re-decide earlier rows of any account the batch touches,
        # also when every row of it was attributed by prepare (which records no fallback).
        attributor = self._registry[0]
        for account in {f.account for f in batch.fills} | {p.account for p in batch.funding}:
            if account not in batch.fallback:
                batch.fallback[account] = attributor.fallback(account)
        return batch

    def _add(self, batch: Batch, env: Envelope) -> None:
        if env.malformed is not None:
            self._reject(batch, env, "message without topic/data", env.malformed, "no_topic_data")
            return
        if env.topic == EXECUTION:
            parsed = env.parsed or [None] * len(env.items)
            for item, execution in zip(env.items, parsed, strict=True):
                self._execution(batch, env, item, execution)
        elif env.topic == ORDER:
            for item in env.items:
                self._order(batch, env, item)
        else:
            metrics.IGNORED.labels(env.topic if env.topic in NOT_STORED else "other").inc()

    def prepare(self, env: Envelope) -> Envelope:
        """``env`` with each execution item parsed: a ``Fill`` where the registry alone
        attributes it, else the ``Execution`` or the parse error. Safe on any thread;
        never raises (on a surprise the writer does it all)."""
        if env.topic != EXECUTION or env.malformed is not None or env.parsed is not None:
            return env
        current, loaded_at = self._registry
        attributor: Attributor | None = current
        if time.monotonic() - loaded_at >= BOTS_TTL_SECONDS:
            attributor = None  # stale or never loaded: the writer refreshes, then attributes
        try:
            return replace(env, parsed=[_prepared(env, item, attributor) for item in env.items])
        except Exception:
            return env

    def _execution(self, batch: Batch, env: Envelope, item: Any, parsed: Any = None) -> None:
        if isinstance(parsed, Fill):
            batch.fills.append(parsed)  # attributed by prepare
            return
        execution = parsed if parsed is not None else _parse(env, item)
        if isinstance(execution, Exception):
            code = getattr(execution, "code", "malformed")
            self._reject(batch, env, f"execution: {execution}", raw_json(item), code)
            return
        attribution = self._registry[0].attribute(execution)
        rule = attribution.rule.value
        if execution.is_funding:
            batch.funding.append(FundingPayment.of(execution, attribution.bot_id, rule))
        else:
            batch.fills.append(Fill.of(execution, attribution.bot_id, attribution.link, rule))

    def _order(self, batch: Batch, env: Envelope, item: Any) -> None:
        try:
            order = parse_order(item, _account(env.account))
        except (MalformedMessage, ValueError) as exc:
            self._reject(
                batch, env, f"order: {exc}", raw_json(item), getattr(exc, "code", "malformed")
            )
            return
        attribution = self._registry[0].attribute_order(order.account, order.order_link_id)
        bot_id, link = attribution.bot_id, attribution.link
        reason = None
        if link is not None:
            reason = link.reason.label if link.reason else link.reason_code
        batch.orders.append(OrderRow.of(order, bot_id, reason))

    def _reject(self, batch: Batch, env: Envelope, reason: str, message: str, code: str) -> None:
        """``code``: the metric's label (one of ``core.exchange_fields.REJECT_CODES`` or the
        listener's own), counted once the row is committed; ``reason``: the row's full
        text, ``topic: code: detail``."""
        if reason not in self._logged_reasons and len(self._logged_reasons) < 1000:
            self._logged_reasons.add(reason)
            log.warning("rejected a %s message from %s: %s", env.topic or "?", env.account, reason)
        batch.rejects.append(RejectRow(env.account, env.topic or None, reason[:500], message, code))
