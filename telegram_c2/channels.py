"""Notify-only channels besides Telegram (Discord, Slack, e-mail, ntfy, webhooks …).

The C2 sends the ``alerts`` stream to every URL in ``NOTIFY_URLS`` through Apprise
(docs/notifications.md). Control stays on Telegram: these channels only receive.

Each channel reads the stream through a consumer group of its own,
``notify-<12 hex of the URL's SHA-256>``, beside the Telegram pump's ``c2``: every
channel gets every entry once, a channel that is down holds back neither Telegram nor
the other channels, and reordering the URLs keeps each channel's place. An entry is
acknowledged only after Apprise reported the channel took it; until then it stays
pending and is retried, oldest first, with exponential backoff (``core/retry.py``).
Entries the channel is not configured for (below ``NOTIFY_MIN_SEVERITY``, a kind not in
``NOTIFY_KINDS``) and repeats of an incident within the de-duplication window are
acknowledged without sending.

Each poll sends at most one message per channel holding everything waiting (up to
:data:`MAX_TEXT`), and at most ``NOTIFY_PER_MINUTE`` messages per minute per channel:
a burst of 200 fills becomes a handful of messages, not 200 webhook calls. Critical
alerts are the exception: they go out at the next poll in a message of their own even
when the minute's messages are used (and are counted in it).

A URL carries its credentials (a Discord webhook's token is in its path), so nothing
here ever logs one: a channel is named by its position and scheme (``#2 discord``), and
Apprise's own logger, which prints URLs, is silenced.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

import apprise
import redis.asyncio
import redis.exceptions

from core import redis_keys
from core.config import SEVERITIES, ChannelSettings
from core.errors import ConfigError
from core.operator.confirm import Clock
from core.redis_client import ensure_group_async
from core.retry import Jitter, backoff_delay
from telegram_c2.alerts import _critical as is_critical
from telegram_c2.alerts import _notification as is_trade_notification
from telegram_c2.alerts import _resolved as is_resolved
from telegram_c2.alerts import alert_line, incident_key, waiting

log = logging.getLogger(__name__)

#: Discord refuses messages over 2000 characters, the shortest limit of the usual
#: channels; a message stops before it (the rest waits for the next one).
MAX_TEXT = 1900
GROUP_PREFIX = "notify-"
#: The consumer in each channel's group (see ``ChannelPump.__init__``).
CONSUMER = "c2"
#: Apprise logs full URLs (tokens included) at debug level and some at warning level;
#: urllib3 logs request paths. Neither may reach our logs.
_LEAKY_LOGGERS = ("apprise", "urllib3")
# A comma starts a new URL only before a scheme: an e-mail URL may list addresses with
# commas (``mailto://…?to=a@x,b@x``).
_SEPARATOR = re.compile(r"\s+|,(?=\s*[A-Za-z][A-Za-z0-9+.-]*://)")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,31})://")
_NOTIFY_TYPES = {
    "info": apprise.NotifyType.INFO,
    "warning": apprise.NotifyType.WARNING,
    "critical": apprise.NotifyType.FAILURE,
}


@dataclass(frozen=True)
class Channel:
    #: How logs and errors name it: position and scheme, never the URL.
    label: str
    #: Its consumer group on the alerts stream.
    group: str
    target: apprise.Apprise


def silence_apprise() -> None:
    for name in _LEAKY_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def split_urls(text: str) -> list[str]:
    return [part.strip(",") for part in _SEPARATOR.split(text) if part and part.strip(",")]


def build_channels(settings: ChannelSettings) -> list[Channel]:
    """One channel per URL of ``NOTIFY_URLS``; a URL Apprise cannot send to is a
    one-line :class:`ConfigError` naming its position and scheme (never the URL)."""
    silence_apprise()
    if settings.urls is None:
        return []
    channels: list[Channel] = []
    seen: set[str] = set()
    for number, url in enumerate(split_urls(settings.urls.get_secret_value()), start=1):
        match = _SCHEME.match(url)
        if match is None:
            raise ConfigError(f"NOTIFY_URLS: entry {number} is not a URL (no scheme://)")
        scheme = match.group(1).lower()
        target = apprise.Apprise()
        if not target.add(url):
            raise ConfigError(
                f"NOTIFY_URLS: entry {number} ({scheme}://…) is not a URL Apprise can send"
                " to; see https://github.com/caronc/apprise/wiki for the URL formats"
            )
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        if digest in seen:
            raise ConfigError(f"NOTIFY_URLS: entry {number} repeats an earlier one")
        seen.add(digest)
        channels.append(Channel(f"#{number} {scheme}", GROUP_PREFIX + digest, target))
    return channels


def severity(fields: dict[str, str]) -> str:
    value = fields.get("severity", "warning").lower()
    return value if value in SEVERITIES else "warning"


@dataclass(frozen=True)
class Timing:
    """When to give up on a repeat, and how to back off (the C2's ``Tuning``)."""

    dedup_window: timedelta
    retry_first: timedelta
    retry_max: timedelta


class ChannelPump:
    """Delivers the alerts stream to one channel."""

    def __init__(
        self,
        infra: redis.asyncio.Redis,
        channel: Channel,
        settings: ChannelSettings,
        timing: Timing,
        clock: Clock,
    ) -> None:
        self.infra = infra
        self.channel = channel
        self.settings = settings
        self.timing = timing
        self.clock = clock
        # One name for every run, not the host's: a container's hostname changes when it
        # is recreated (an upgrade), and entries read but undelivered by a consumer of
        # another name would never be read again. One C2 runs per deployment (Telegram
        # serves updates to one poller), so the name is never shared by two processes.
        self.consumer = CONSUMER
        self._floor = SEVERITIES.index(settings.min_severity)
        self._sent_at: deque[datetime] = deque()
        #: Incident key → when its last message went out (de-duplication).
        self._incidents: dict[str, datetime] = {}
        self._suppressed: dict[str, int] = {}
        self._group_ready = False
        self._failures = 0
        self._not_before: datetime | None = None

    async def ensure_group(self) -> None:
        if self._group_ready:
            return
        # "$", as for the Telegram pump: a new channel starts with what comes next.
        await ensure_group_async(self.infra, redis_keys.ALERTS, self.channel.group, start="$")
        self._group_ready = True

    def wanted(self, fields: dict[str, str]) -> bool:
        """Whether this channel is configured to receive the entry at all."""
        kind = "trades" if is_trade_notification(fields) else "alerts"
        if kind not in self.settings.kinds:
            return False
        return SEVERITIES.index(severity(fields)) >= self._floor

    def _repeat(self, fields: dict[str, str], now: datetime) -> bool:
        if is_resolved(fields):
            return False
        key = incident_key(fields)
        last = self._incidents.get(key)
        if last is not None and now - last < self.timing.dedup_window:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return True
        return False

    def _room(self, now: datetime) -> int:
        while self._sent_at and now - self._sent_at[0] >= timedelta(minutes=1):
            self._sent_at.popleft()
        return max(0, self.settings.per_minute - len(self._sent_at))

    def _line(self, fields: dict[str, str]) -> str:
        line = alert_line(fields)
        repeats = self._suppressed.get(incident_key(fields))
        return f"{line} ({repeats} repeat(s) suppressed)" if repeats else line

    async def _waiting(self) -> list[tuple[str, dict[str, str]]]:
        return await waiting(self.infra, self.channel.group, self.consumer)

    async def poll_once(self) -> int:
        """Send what is waiting; returns how many entries were acknowledged.

        Critical entries (an open incident, not its resolution) go out in a message of
        their own in this poll, whatever the per-minute limit says: an operator must not
        learn of a drift or a dead listener a minute late because fills used the minute's
        messages. They still count against the limit, so the other entries wait longer
        after a burst of them. The rest is one batched message, sent when the limit
        leaves room."""
        await self.ensure_group()
        now = self.clock()
        if self._not_before is not None and now < self._not_before:
            return 0  # backing off after a failed delivery
        self._forget_old(now)
        acked: list[str] = []
        urgent: list[tuple[str, dict[str, str], str]] = []
        batch: list[tuple[str, dict[str, str], str]] = []
        sizes = {"urgent": 0, "batch": 0}
        for entry_id, fields in await self._waiting():
            if not fields or not self.wanted(fields) or self._repeat(fields, now):
                acked.append(entry_id)  # trimmed, not for this channel, or a repeat
                continue
            line = self._line(fields)[:MAX_TEXT]
            which, into = ("urgent", urgent) if is_critical(fields) else ("batch", batch)
            if into and sizes[which] + len(line) + 1 > MAX_TEXT:
                continue  # waits for the next message (keeps reading: repeats are acked)
            into.append((entry_id, fields, line))
            sizes[which] += len(line) + 1
        failed = False
        for message, limited in ((urgent, False), (batch, True)):
            if not message or failed or (limited and self._room(now) <= 0):
                continue
            if await self._send(message):
                self._delivered(message, now)
                acked += [entry_id for entry_id, _, _ in message]
            else:
                failed = True
                self._back_off(now)
        if acked:
            await self.infra.xack(redis_keys.ALERTS, self.channel.group, *acked)
        return len(acked)

    async def _send(self, batch: list[tuple[str, dict[str, str], str]]) -> bool:
        worst = max(SEVERITIES.index(severity(fields)) for _, fields, _ in batch)
        if len(batch) == 1:
            _, fields, body = batch[0]
            title = f"Alpha: {fields.get('kind', 'alert')}"
            kind = apprise.NotifyType.SUCCESS if is_resolved(fields) else None
        else:
            body = "\n".join(line for _, _, line in batch)
            title = f"Alpha: {len(batch)} alerts"
            kind = None
        try:
            # Apprise's plugins block on their HTTP calls: a worker thread keeps a slow
            # channel from stalling the C2's event loop (Telegram commands, other pumps).
            sent = await asyncio.to_thread(
                self.channel.target.notify,
                body=body,
                title=title,
                notify_type=kind or _NOTIFY_TYPES[SEVERITIES[worst]],
            )
            return bool(sent)
        except Exception as exc:  # a plugin bug must not stop the C2's jobs
            log.warning("channel %s: Apprise failed: %s", self.channel.label, type(exc).__name__)
            return False

    def _delivered(self, batch: list[tuple[str, dict[str, str], str]], now: datetime) -> None:
        self._failures, self._not_before = 0, None
        self._sent_at.append(now)
        for _, fields, _ in batch:
            key = incident_key(fields)
            self._suppressed.pop(key, None)
            if is_resolved(fields):
                self._incidents.pop(key, None)
            else:
                self._incidents[key] = now

    def _back_off(self, now: datetime) -> None:
        self._failures += 1
        # No jitter: one process retries one channel.
        seconds = backoff_delay(
            self._failures,
            base=self.timing.retry_first.total_seconds(),
            cap=self.timing.retry_max.total_seconds(),
            jitter=Jitter.NONE,
        )
        self._not_before = now + timedelta(seconds=seconds)
        log.warning(
            "channel %s: not delivered (failure %d in a row); next attempt in %ss",
            self.channel.label,
            self._failures,
            round(seconds),
        )

    def _forget_old(self, now: datetime) -> None:
        """Incidents past the window with no repeat counted: trade notifications carry a
        key per event, so the table would otherwise grow with every fill."""
        window = self.timing.dedup_window
        for key in [k for k, at in self._incidents.items()
                    if k not in self._suppressed and now - at >= window]:  # fmt: skip
            del self._incidents[key]
