"""Identifiers as types.

Each identifier validates on construction, so a value of type ``BotId`` is known to
be well-formed everywhere it travels (CLI, database, Redis keys, order link ids).
They are ``str`` subclasses: they serialise, compare and hash like the plain string.
"""

from __future__ import annotations

import re
from typing import ClassVar, Self


class _Identifier(str):
    pattern: ClassVar[re.Pattern[str]]
    what: ClassVar[str]

    def __new__(cls, value: str) -> Self:
        if not isinstance(value, str) or not cls.pattern.fullmatch(value):
            raise ValueError(f"invalid {cls.what} {value!r}: must match {cls.pattern.pattern}")
        return super().__new__(cls, value)

    @classmethod
    def trusted(cls, value: str) -> Self:
        """Wrap a value already matched against :attr:`pattern` (a hot path's shortcut)."""
        return str.__new__(cls, value)

    @classmethod
    def is_valid(cls, value: str) -> bool:
        return isinstance(value, str) and cls.pattern.fullmatch(value) is not None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class BotId(_Identifier):
    """A bot's stable id, e.g. ``shortseller_001``; also the Redis key component."""

    pattern = re.compile(r"[a-z][a-z0-9_]{2,31}")
    what = "bot id"


class BotCode(_Identifier):
    """A bot's short code, carried in every orderLinkId it sends, e.g. ``ss1``."""

    pattern = re.compile(r"[a-z0-9]{2,8}")
    what = "bot code"


class AccountName(_Identifier):
    """A configured exchange account (one API key), e.g. ``main``."""

    pattern = re.compile(r"[a-z][a-z0-9_]{0,31}")
    what = "account name"


class Symbol(_Identifier):
    """An exchange instrument, e.g. ``BTCUSDT``."""

    pattern = re.compile(r"[A-Z0-9]{2,30}")
    what = "symbol"


#: The reserved bot that owns every execution no bot can claim (docs/attribution.md).
EXTERNAL_BOT = BotId("external")
#: The bot code reserved for ``external``; never issued to a real bot.
EXTERNAL_CODE = BotCode("ext")
#: The only exchange the ledger knows today; part of the fills' unique key.
EXCHANGE = "bybit"
