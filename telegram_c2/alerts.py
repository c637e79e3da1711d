"""Alerts to admins: the infra ``alerts`` stream, the C2's own monitors, a daily summary.

Stream entries (any producer: listener, trade sync, bots' risk gates, backup) carry
``kind`` (drift | listener | heartbeat | risk_halt | backup | …), ``text``, optional
``key`` (the incident; default ``kind`` plus ``bot_id``/``account``/``symbol``),
``severity`` and ``resolved`` ("1" when an incident is over).

Flood control, because an outage raises the same alert every few seconds:
- de-duplication: one message per incident key per ``alert_dedup_window``; repeats are
  counted and the count is shown with the next message for that key;
- rate limit: at most ``alerts_per_minute`` messages; the excess is counted and
  reported in one line when there is room again.

Entries are read with a consumer group and acknowledged only once handled, so alerts
raised while the C2 was down are delivered when it is back.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis.exceptions
from telegram import Bot as TgBot
from telegram.error import TelegramError

from core import redis_keys
from telegram_c2 import fmt, ledger
from telegram_c2.registry import load_bots
from telegram_c2.services import C2

log = logging.getLogger(__name__)

GROUP = "c2"
ICONS = {"critical": "🚨", "warning": "⚠️", "info": "ℹ️"}


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


class AlertPump:
    def __init__(self, c2: C2, bot: TgBot) -> None:
        self.c2 = c2
        self.bot = bot
        self.consumer = f"c2-{socket.gethostname()}"
        self._incidents: dict[str, _Incident] = {}
        self._sent_at: deque[datetime] = deque()
        self._held_back = 0
        self._group_ready = False

    # --- delivery -------------------------------------------------------------------

    async def send_to_admins(self, text: str) -> bool:
        """Send to every admin's private chat; True if at least one got it."""
        delivered = False
        for admin in sorted(self.c2.access.admins):
            try:
                await self.bot.send_message(chat_id=admin, text=text)
                delivered = True
            except TelegramError as exc:  # e.g. an admin who never opened the chat
                log.warning("alert not delivered to an admin: %s", exc)
        return delivered

    def _room(self, now: datetime) -> bool:
        while self._sent_at and now - self._sent_at[0] >= timedelta(minutes=1):
            self._sent_at.popleft()
        return len(self._sent_at) < self.c2.tuning.alerts_per_minute

    async def handle(self, fields: dict[str, str]) -> bool:
        """Push one alert unless it repeats an incident or the rate limit is reached.
        Returns True if a message was sent."""
        now = self.c2.clock()
        key = incident_key(fields)
        resolved = fields.get("resolved", "").lower() in ("1", "true", "yes")
        incident = self._incidents.get(key)
        window = self.c2.tuning.alert_dedup_window
        if not resolved and incident and now - incident.last_sent < window:
            incident.suppressed += 1
            return False
        if not self._room(now):
            self._held_back += 1
            return False
        icon = "✅" if resolved else ICONS.get(fields.get("severity", "warning"), "⚠️")
        text = f"{icon} {fields.get('kind', 'alert')}: {fields.get('text', '(no text)')}"
        if incident and incident.suppressed:
            text += f"\n({incident.suppressed} repeat(s) suppressed)"
        if self._held_back and len(self._sent_at) + 1 < self.c2.tuning.alerts_per_minute:
            text += f"\n({self._held_back} other alert(s) held back by the rate limit)"
            self._held_back = 0
        await self.send_to_admins(text)
        self._sent_at.append(now)
        if resolved:
            self._incidents.pop(key, None)
        else:
            self._incidents[key] = _Incident(now)
        return True

    # --- the stream -----------------------------------------------------------------

    async def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            # "$": a first deployment does not replay history; afterwards the group
            # remembers its place, so alerts raised while the C2 was down still arrive.
            await self.c2.redis.infra.xgroup_create(redis_keys.ALERTS, GROUP, id="$", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def poll_once(self) -> int:
        """Read and handle what is waiting (our unacknowledged entries first)."""
        await self.ensure_group()
        infra = self.c2.redis.infra
        handled = 0
        for start in ("0", ">"):
            reply: Any = await infra.xreadgroup(
                GROUP, self.consumer, {redis_keys.ALERTS: start}, count=100
            )
            for _stream, entries in reply or []:
                for entry_id, fields in entries:
                    await self.handle(fields)
                    await infra.xack(redis_keys.ALERTS, GROUP, entry_id)
                    handled += 1
        return handled


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
