"""Alerts to admins: the infra ``alerts`` stream, the C2's own monitors, a daily summary.

Stream entries (any producer: listener, trade sync, bots' risk gates, backup) carry
``kind`` (drift | listener | heartbeat | risk_halt | backup | …), ``text``, optional
``key`` (the incident; default ``kind`` plus ``bot_id``/``account``/``symbol``),
``severity`` and ``resolved`` ("1" when an incident is over).

An entry is acknowledged only once Telegram took it for at least one admin (or it
repeats an incident already delivered, see below). One nobody received stays pending in
the consumer group and is retried, oldest first, with exponential backoff (at least what
a 429 asks for); alerts raised while the C2 was down are delivered when it is back.

Flood control, because an outage raises the same alert every few seconds:
- de-duplication: one message per incident key per ``alert_dedup_window``; repeats are
  acknowledged, counted, and the count is shown with the next message for that key;
- rate limit: at most ``alerts_per_minute`` messages for info and warning alerts. Those
  beyond the limit wait (unacknowledged); when more wait than there is room for, the
  last message of the minute carries them as one batch. Critical alerts are never held
  back by the rate limit.

Bots' trade notifications (``core.notify.KINDS``: fills, rejections, halts …, see
``bots/runtime/notify.py``) come in bursts — a market order filled in 200 executions is
200 entries — so they are sent per bot as a digest: at most one message per bot per
``notify_digest_every``, holding every notification of that bot waiting then (up to
``MAX_TEXT``; the rest wait for the bot's next turn). Digests count against
``alerts_per_minute`` like any other message, and nothing is acknowledged before it was
delivered. Below all of it, the Application's rate limiter (``telegram_c2/flood.py``)
keeps every Bot API call within Telegram's own limits.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis.asyncio
from telegram import Bot as TgBot
from telegram.error import RetryAfter, TelegramError

from core import redis_keys
from core.notify import KINDS as NOTIFY_KINDS
from core.operator.registry import load_bots
from core.redis_client import ensure_group_async, group_lost
from core.retry import Jitter, backoff_delay
from telegram_c2 import fmt, ledger
from telegram_c2.services import C2

log = logging.getLogger(__name__)

GROUP = "c2"
ICONS = {"critical": "🚨", "warning": "⚠️", "info": "ℹ️"}
#: Telegram takes at most 4096 characters per message; a batch stops well before.
MAX_TEXT = 3800
#: Entries read per poll (our pending ones, then new ones).
READ_COUNT = 200


@dataclass
class _Incident:
    last_sent: datetime
    suppressed: int = 0


def incident_key(fields: dict[str, str]) -> str:
    if fields.get("key"):
        return fields["key"]
    parts = [fields.get("kind", "alert")]
    parts += [fields[k] for k in ("bot_id", "account", "symbol") if fields.get(k)]
    return ":".join(parts)


def _resolved(fields: dict[str, str]) -> bool:
    return fields.get("resolved", "").lower() in ("1", "true", "yes")


def _critical(fields: dict[str, str]) -> bool:
    return fields.get("severity", "").lower() == "critical" and not _resolved(fields)


def _notification(fields: dict[str, str]) -> bool:
    """A bot's trade notification (sent in its bot's digest), not an incident alert."""
    return (
        fields.get("kind") in NOTIFY_KINDS and bool(fields.get("bot_id")) and not _critical(fields)
    )


def alert_line(fields: dict[str, str]) -> str:
    icon = "✅" if _resolved(fields) else ICONS.get(fields.get("severity", "warning"), "⚠️")
    text = f"{icon} {fields.get('kind', 'alert')}: {fields.get('text', '(no text)')}"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


@dataclass
class _Batch:
    """Alerts over the rate limit, sent together as the minute's last message."""

    entries: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    size: int = 0

    def fits(self, line: str) -> bool:
        return self.size + len(line) + 1 <= MAX_TEXT

    def add(self, entry_id: str, fields: dict[str, str], line: str) -> None:
        self.entries.append((entry_id, fields))
        self.lines.append(line)
        self.size += len(line) + 1

    def text(self) -> str:
        if len(self.lines) == 1:
            return self.lines[0]
        head = f"{len(self.lines)} alerts (batched by the rate limit):"
        return "\n".join([head, *self.lines])


class AlertPump:
    def __init__(self, c2: C2, bot: TgBot) -> None:
        self.c2 = c2
        self.bot = bot
        self.consumer = f"c2-{socket.gethostname()}"
        self._incidents: dict[str, _Incident] = {}
        self._sent_at: deque[datetime] = deque()
        #: When each bot's last digest of notifications went out.
        self._digest_at: dict[str, datetime] = {}
        self._group_ready = False
        #: Consecutive polls whose delivery failed, and when the next may try.
        self._failures = 0
        self._not_before: datetime | None = None
        self._retry_after = 0.0

    # --- delivery -------------------------------------------------------------------

    async def send_to_admins(self, text: str) -> bool:
        """Send to every admin's private chat; True if at least one got it."""
        delivered = False
        self._retry_after = 0.0
        for admin in sorted(self.c2.access.admins):
            try:
                await self.bot.send_message(chat_id=admin, text=text)
                delivered = True
            except RetryAfter as exc:  # Telegram's flood control: wait what it says
                wait = exc.retry_after
                seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
                self._retry_after = max(self._retry_after, seconds)
                log.warning("alert not delivered to an admin: %s", exc)
            except TelegramError as exc:  # blocked, never opened the chat, network down
                log.warning("alert not delivered to an admin: %s", exc)
        return delivered

    def _room(self, now: datetime) -> int:
        """Messages the rate limit still allows this minute."""
        while self._sent_at and now - self._sent_at[0] >= timedelta(minutes=1):
            self._sent_at.popleft()
        return max(0, self.c2.tuning.alerts_per_minute - len(self._sent_at))

    def _repeat(self, fields: dict[str, str], now: datetime) -> bool:
        """A repeat of an incident delivered within the de-duplication window."""
        if _resolved(fields):
            return False
        incident = self._incidents.get(incident_key(fields))
        if incident and now - incident.last_sent < self.c2.tuning.alert_dedup_window:
            incident.suppressed += 1
            return True
        return False

    def _forget_old(self, now: datetime) -> None:
        """Incidents past the window with no repeat to report: notifications carry a key
        per event, so the table would otherwise grow with every fill."""
        window = self.c2.tuning.alert_dedup_window
        for key in [k for k, i in self._incidents.items()
                    if not i.suppressed and now - i.last_sent >= window]:  # fmt: skip
            del self._incidents[key]

    def _text(self, fields: dict[str, str]) -> str:
        text = alert_line(fields)
        incident = self._incidents.get(incident_key(fields))
        if incident and incident.suppressed:
            text += f"\n({incident.suppressed} repeat(s) suppressed)"
        return text

    def _delivered(self, fields: dict[str, str], now: datetime) -> None:
        key = incident_key(fields)
        if _resolved(fields):
            self._incidents.pop(key, None)
        else:
            self._incidents[key] = _Incident(now)

    def _back_off(self, now: datetime) -> None:
        tuning = self.c2.tuning
        self._failures += 1
        # No jitter: one C2 process retries one Bot API.
        seconds = backoff_delay(
            self._failures,
            base=tuning.alert_retry_first.total_seconds(),
            cap=tuning.alert_retry_max.total_seconds(),
            jitter=Jitter.NONE,
        )
        delay = timedelta(seconds=seconds)
        delay = max(delay, timedelta(seconds=self._retry_after))
        self._not_before = now + delay
        log.warning("alerts undelivered; next attempt in %s", fmt.age(delay))

    async def _send(self, text: str, now: datetime) -> bool:
        if not await self.send_to_admins(text):
            self._back_off(now)
            return False
        self._failures, self._not_before = 0, None
        self._sent_at.append(now)
        return True

    # --- the stream -----------------------------------------------------------------

    async def ensure_group(self) -> None:
        if self._group_ready:
            return
        # "$": a first deployment does not replay history; afterwards the group
        # remembers its place, so alerts raised while the C2 was down still arrive.
        await ensure_group_async(self.c2.redis.infra, redis_keys.ALERTS, GROUP, start="$")
        await self._claim_pending()
        self._group_ready = True

    async def _claim_pending(self) -> None:
        """Take over what an earlier C2 read but did not deliver. The consumer is named
        after the host, and a container's hostname changes when it is recreated (every
        upgrade): its pending entries would otherwise never be read again. One C2 runs
        per deployment (Telegram serves updates to one poller), so nobody else holds them."""
        infra = self.c2.redis.infra
        cursor = "0-0"
        while True:
            reply: Any = await infra.xautoclaim(
                redis_keys.ALERTS, GROUP, self.consumer, min_idle_time=0, start_id=cursor,
                count=READ_COUNT,
            )  # fmt: skip
            cursor = reply[0]
            if cursor in ("0-0", b"0-0"):
                return

    async def _waiting(self) -> list[tuple[str, dict[str, str]]]:
        """Our pending entries (undelivered or held back), oldest first, then new ones."""
        return await waiting(self.c2.redis.infra, GROUP, self.consumer)

    async def poll_once(self) -> int:
        """Deliver what is waiting; returns how many entries were acknowledged."""
        await self.ensure_group()
        now = self.c2.clock()
        if self._not_before is not None and now < self._not_before:
            return 0  # backing off after a failed delivery
        infra = self.c2.redis.infra
        self._forget_old(now)
        acked: list[str] = []
        digests: dict[str, list[tuple[str, dict[str, str]]]] = {}
        entries = []
        for entry_id, fields in await self._waiting():
            if not fields:  # trimmed from the stream while pending: nothing left to send
                acked.append(entry_id)
            elif _notification(fields):
                digests.setdefault(fields["bot_id"], []).append((entry_id, fields))
            else:
                entries.append((entry_id, fields))
        later = sum(1 for _, f in entries if not _critical(f))  # info/warning to come
        batch = _Batch()
        failed = False
        for entry_id, fields in entries:
            critical = _critical(fields)
            later -= 0 if critical else 1
            if self._repeat(fields, now):
                acked.append(entry_id)
                continue
            if not critical:
                room = self._room(now)
                if batch.lines or (room == 1 and later > 0):
                    line = alert_line(fields)
                    if batch.fits(line):
                        batch.add(entry_id, fields, line)
                    continue  # the rest waits for the next minute
                if room == 0:
                    continue  # held back: stays pending
            if not await self._send(self._text(fields), now):
                failed = True
                break
            self._delivered(fields, now)
            acked.append(entry_id)
        if batch.lines and not failed and await self._send(batch.text(), now):
            for entry_id, fields in batch.entries:
                self._delivered(fields, now)
                acked.append(entry_id)
        if not failed:
            await self._digests(digests, now, acked)
        if acked:
            await infra.xack(redis_keys.ALERTS, GROUP, *acked)
        return len(acked)

    async def _digests(
        self,
        digests: dict[str, list[tuple[str, dict[str, str]]]],
        now: datetime,
        acked: list[str],
    ) -> None:
        """One message per bot whose turn it is (its last digest is at least
        ``notify_digest_every`` old), the bot waiting longest first, while the rate limit
        has room. Repeats of a delivered incident (a rejection with the same code, say)
        are acknowledged and counted, as for any alert."""
        every = self.c2.tuning.notify_digest_every
        for bot_id, items in sorted(digests.items(), key=lambda kv: _order(kv[1][0][0])):
            last = self._digest_at.get(bot_id)
            if last is not None and now - last < every:
                continue  # this bot's turn comes later: its notifications stay pending
            digest = _Batch()
            for entry_id, fields in items:
                if self._repeat(fields, now):
                    acked.append(entry_id)
                    continue
                line = self._digest_line(fields)
                if digest.lines and not digest.fits(line):
                    break  # the rest go in the bot's next digest
                digest.add(entry_id, fields, line[:MAX_TEXT])
            if not digest.lines:
                continue
            if len(digest.entries) == 1:  # alone: the usual alert line
                text = self._text(digest.entries[0][1])
            else:
                text = "\n".join(
                    [f"{len(digest.lines)} notifications from {bot_id}:", *digest.lines]
                )
            if self._room(now) == 0 or not await self._send(text, now):
                return
            self._digest_at[bot_id] = now
            for entry_id, fields in digest.entries:
                self._delivered(fields, now)
                acked.append(entry_id)

    def _digest_line(self, fields: dict[str, str]) -> str:
        """One notification under its bot's header: the bot's text without its name."""
        text = fields.get("text", "(no text)")
        own = f"{fields['bot_id']}: "
        line = ("✅ " if _resolved(fields) else "• ") + text.removeprefix(own)
        incident = self._incidents.get(incident_key(fields))
        if incident and incident.suppressed:
            line += f" ({incident.suppressed} repeat(s) suppressed)"
        return line


async def waiting(
    infra: redis.asyncio.Redis, group: str, consumer: str, *, recreated: bool = False
) -> list[tuple[str, dict[str, str]]]:
    """``consumer``'s pending entries of the alerts stream, oldest first, then new ones.

    A group Redis lost with its data (``NOGROUP``: restarted without it, failed over to
    a replica behind, flushed) is created again from the stream's start: what the stream
    holds then was raised after the loss and never delivered. Before, every poll failed
    on it until the C2 was restarted, and no alert reached anyone."""
    out: list[tuple[str, dict[str, str]]] = []
    for start in ("0", ">"):
        try:
            reply: Any = await infra.xreadgroup(
                group, consumer, {redis_keys.ALERTS: start}, count=READ_COUNT
            )
        except redis.ResponseError as exc:
            if recreated or not group_lost(exc):
                raise
            log.warning("alerts: consumer group %s is gone (Redis lost its data?): created "
                        "again, delivering what the stream holds now", group)  # fmt: skip
            await ensure_group_async(infra, redis_keys.ALERTS, group, start="0")
            return await waiting(infra, group, consumer, recreated=True)
        for _stream, entries in reply or []:
            out += [(entry_id, fields or {}) for entry_id, fields in entries]
    return out


def _order(entry_id: str) -> tuple[int, int]:
    """A stream entry id's order (``ms-seq``)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def raise_alert(c2: C2, kind: str, key: str, text: str, severity: str = "warning") -> None:
    """The C2's own alerts go through the same stream (and the same flood control)."""
    await c2.redis.infra.xadd(
        redis_keys.ALERTS, {"kind": kind, "key": key, "text": text, "severity": severity}
    )


class Monitor:
    """Listener disconnected longer than a threshold; bot heartbeat lost."""

    def __init__(self, c2: C2) -> None:
        self.c2 = c2
        self._listener_down_since: datetime | None = None

    async def check(self) -> None:
        now = self.c2.clock()
        health = await self.c2.ops.listener()
        if health.connected is False:
            self._listener_down_since = self._listener_down_since or now
            down_for = now - self._listener_down_since
            if down_for >= self.c2.tuning.listener_down_after:
                await raise_alert(
                    self.c2,
                    "listener",
                    "listener:disconnected",
                    f"listener disconnected for {fmt.age(down_for)}",
                    "critical",
                )
        else:
            self._listener_down_since = None
        for bot in await load_bots(self.c2.db):
            if bot.status == "stopped":
                continue  # a stopped bot may be shut down on purpose
            if await self.c2.ops.heartbeat(bot) is None:
                seen = fmt.age(now - bot.last_heartbeat) + " ago" if bot.last_heartbeat else "never"
                await raise_alert(
                    self.c2,
                    "heartbeat",
                    f"heartbeat:{bot.bot_id}",
                    f"{bot.bot_id} heartbeat lost (last seen {seen})",
                    "critical",
                )


async def daily_summary(c2: C2) -> str:
    """Yesterday (UTC) per bot: net P&L; today: open positions, open drift, last backup."""
    now = c2.clock()
    yesterday = now.date() - timedelta(days=1)
    view = await ledger.load(c2.db)
    lines = [f"Daily summary for {yesterday} (UTC)"]
    total = ledger.ZERO
    for bot in await load_bots(c2.db):
        net = view.net_on(bot.bot_id, yesterday)
        total += net
        lines.append(
            f"• {bot.bot_id}: {fmt.money(net)}, {len(view.open_positions(bot.bot_id))} open,"
            f" {bot.status}"
        )
    lines.append(f"Total: {fmt.money(total)}")
    drift = await c2.ops.open_drift()
    lines.append(f"Open drift: {len(drift) or 'none'}")
    backup = await c2.ops.last_backup()
    lines.append(
        f"Last backup: #{backup['id']} {backup['status']} {fmt.when(backup['started_at'])}"
        if backup
        else "Last backup: none"
    )
    return "\n".join(lines)
