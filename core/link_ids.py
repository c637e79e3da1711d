"""Order link ids: how a fill finds its way back to the bot that caused it.

Format (docs/link-ids.md)::

    {bot_code}-{reason}-{ms epoch, base36}-{counter, base36}     e.g. ss1-en-mi3k9q2a-1f

Bybit accepts at most 36 characters of ``[A-Za-z0-9_-]``; with a bot code of at most 8
characters, a 2-letter reason and an 8-digit base36 timestamp, 14 characters remain
for the counter, so every id fits. Uniqueness matters beyond bookkeeping: the order
manager retries with the *same* id and reads 110072 ("duplicate") as "already placed",
so an id must never be issued twice, even across restarts. Hence the timestamp never
goes backwards within a process and the counter starts at a random offset.

Decoding never raises: anything that is not one of ours decodes to ``None``
("unattributed"), because the ids on an account also come from people and other tools.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol

from core.ids import BotCode, BotId

MAX_LENGTH = 36
ALPHABET = re.compile(r"[A-Za-z0-9_-]{1,36}")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
#: Year 9999: a larger "timestamp" is not one of ours.
_MAX_MS = 253402300799999
_SHAPE = re.compile(r"([a-z0-9]{2,8})-([a-z]{2})-([0-9a-z]{1,10})-([0-9a-z]{1,14})")


class Reason(StrEnum):
    """Why an order exists; the value is the two-letter code carried in its orderLinkId.

    This is the one place the report words meet the codes (docs/link-ids.md#reasons).
    """

    ENTRY = "en"
    SL = "sl"
    TP = "tp"
    TRAIL = "tr"
    TIME = "tm"
    REGIME = "rg"
    BREAK_EVEN = "be"
    EXIT = "mx"
    MANUAL = "mn"
    KILL = "ks"
    # Spelled-out aliases (same members).
    STOP_LOSS = "sl"
    TAKE_PROFIT = "tp"

    @property
    def label(self) -> str:
        """The word reports show: ``entry``, ``sl``, ``trail`` …"""
        return _LABELS[self]

    long_name = label

    @classmethod
    def parse(cls, text: str) -> Reason:
        """A reason from its code (``tr``) or its word (``trail``)."""
        for reason, word in _LABELS.items():
            if text in (word, reason.value):
                return reason
        raise ValueError(f"unknown order reason {text!r} (known: {', '.join(_LABELS.values())})")

    from_label = parse


_LABELS = {
    Reason.ENTRY: "entry",
    Reason.SL: "sl",
    Reason.TP: "tp",
    Reason.TRAIL: "trail",
    Reason.TIME: "time",
    Reason.REGIME: "regime",
    Reason.BREAK_EVEN: "break_even",
    Reason.EXIT: "exit",
    Reason.MANUAL: "manual",
    Reason.KILL: "kill",
}


_BY_CODE: dict[str, Reason] = {reason.value: reason for reason in Reason}


def _base36(value: int) -> str:
    if value == 0:
        return "0"
    out = []
    while value:
        value, digit = divmod(value, 36)
        out.append(_DIGITS[digit])
    return "".join(reversed(out))


@dataclass(frozen=True, slots=True)
class LinkId:
    """A decoded order link id."""

    bot_code: BotCode
    reason_code: str
    issued_ms: int
    counter: int

    @property
    def issued_at(self) -> datetime:
        return datetime.fromtimestamp(self.issued_ms / 1000, tz=UTC)

    @property
    def reason(self) -> Reason | None:
        """The reason, or None for a well-formed id with a code this version doesn't know."""
        return _BY_CODE.get(self.reason_code)

    def human(self, bot_id: BotId | str) -> str:
        """The form reports show: ``bot_id:reason:timestamp``."""
        label = self.reason.label if self.reason else self.reason_code
        return f"{bot_id}:{label}:{self.issued_at.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}Z"


class Clock(Protocol):
    """What the factory reads the time from: the ``time`` module, or a test's fake."""

    def time_ns(self) -> int: ...


class LinkIdFactory:
    """Issues unique link ids for one bot. Thread-safe."""

    def __init__(self, bot_code: BotCode, *, clock: Clock | None = None) -> None:
        self._code = BotCode(bot_code)
        self._lock = threading.Lock()
        self._last_ms = 0
        # A random start makes a collision with ids from an earlier run of the same bot
        # (whose clock may have stepped back) improbable, not merely unlikely.
        self._counter = secrets.randbelow(36**4)
        self._time_ns = (clock or time).time_ns

    def new(self, reason: Reason) -> str:
        with self._lock:
            now_ms = max(self._time_ns() // 1_000_000, self._last_ms)
            self._last_ms = now_ms
            self._counter += 1
            counter = self._counter
        link_id = f"{self._code}-{reason.value}-{_base36(now_ms)}-{_base36(counter)}"
        # Can only fail if the clock runs past the year 5188 or 36**14 ids were issued.
        assert len(link_id) <= MAX_LENGTH, link_id
        return link_id


def decode(link_id: object) -> LinkId | None:
    """Decode one of our ids; anything else (including garbage and non-strings) is None."""
    if not isinstance(link_id, str) or len(link_id) > MAX_LENGTH:
        return None
    match = _SHAPE.fullmatch(link_id)
    if match is None:
        return None
    code, reason, ms, counter = match.groups()
    issued_ms = int(ms, 36)
    if issued_ms > _MAX_MS:
        return None
    # The regex has already checked the code's alphabet and length.
    return LinkId(BotCode.trusted(code), reason, issued_ms, int(counter, 36))


def is_valid(link_id: str) -> bool:
    """Would Bybit accept this as an orderLinkId (documented alphabet and length)?"""
    return ALPHABET.fullmatch(link_id) is not None
