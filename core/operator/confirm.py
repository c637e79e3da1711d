"""Confirmation of destructive commands: a one-time token, behind an inline button in
the C2, behind ``POST /api/v1/confirm/{id}`` in the HTTP API.

A pending confirmation belongs to the admin who asked for it (a Telegram user, an API
token) and, in chat, to the chat and message where it was asked (the API has neither:
``chat_id`` is ``None``); it works once and expires after :data:`TTL`. The clock is
injected so tests can expire one without waiting.
Expired entries stay as tombstones for a while, so a late press is answered (and
audited) as "expired" rather than "unknown".
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

Clock = Callable[[], datetime]
TTL = timedelta(seconds=60)
#: How long an expired token is remembered, to answer late presses precisely.
TOMBSTONE = timedelta(hours=1)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Outcome(Enum):
    CONFIRMED = "confirmed"
    EXPIRED = "expired"
    #: Never issued, already used, or forgotten (e.g. the C2 restarted).
    UNKNOWN = "unknown"
    #: Someone other than the requesting admin pressed it.
    NOT_YOURS = "not_yours"
    #: The requesting admin, but in another chat or under another message (replayed
    #: callback data).
    ELSEWHERE = "elsewhere"


@dataclass
class Pending:
    token: str
    action: str  # "flatten" | "kill"
    user_id: int
    username: str | None
    chat_id: int | None
    args: tuple[str, ...]
    bot_id: str | None
    created_at: datetime
    expires_at: datetime
    message_id: int | None = None
    #: Set once the expiry was audited, so it is audited exactly once.
    expired_recorded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def issue(
        cls,
        action: str,
        *,
        user_id: int,
        username: str | None,
        chat_id: int | None,
        args: tuple[str, ...],
        bot_id: str | None,
        now: datetime,
        ttl: timedelta,
    ) -> Pending:
        """A new confirmation with a fresh random token."""
        return cls(
            token=secrets.token_urlsafe(12),  # ~16 chars: fits callback_data's 64 bytes
            action=action,
            user_id=user_id,
            username=username,
            chat_id=chat_id,
            args=args,
            bot_id=bot_id,
            created_at=now,
            expires_at=now + ttl,
        )

    def judge(
        self, user_id: int, chat_id: int | None, message_id: int | None, now: datetime
    ) -> Outcome:
        """What using it as ``user_id``, in ``chat_id`` under ``message_id``, at ``now``
        amounts to (the API has no chat or message: both ``None`` on either side)."""
        if self.user_id != user_id:
            return Outcome.NOT_YOURS
        if self.chat_id != chat_id or (
            self.message_id is not None and message_id != self.message_id
        ):
            return Outcome.ELSEWHERE
        if now >= self.expires_at:
            return Outcome.EXPIRED
        return Outcome.CONFIRMED


class ConfirmationBook:
    def __init__(self, clock: Clock = utc_now, ttl: timedelta = TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self._pending: dict[str, Pending] = {}

    def create(
        self,
        action: str,
        *,
        user_id: int,
        username: str | None,
        chat_id: int | None,
        args: tuple[str, ...] = (),
        bot_id: str | None = None,
    ) -> Pending:
        item = Pending.issue(
            action, user_id=user_id, username=username, chat_id=chat_id, args=args,
            bot_id=bot_id, now=self.clock(), ttl=self.ttl,
        )  # fmt: skip
        self._pending[item.token] = item
        return item

    def _check(
        self, token: str, user_id: int, chat_id: int | None, message_id: int | None
    ) -> tuple[Outcome, Pending | None]:
        item = self._pending.get(token)
        if item is None:
            return Outcome.UNKNOWN, None
        return item.judge(user_id, chat_id, message_id, self.clock()), item

    def take(
        self, token: str, user_id: int, chat_id: int | None, message_id: int | None
    ) -> tuple[Outcome, Pending | None]:
        """Use a token, pressed by ``user_id`` under ``message_id`` in ``chat_id``. No
        ``await`` in here: check-and-remove is atomic on the event loop."""
        outcome, item = self._check(token, user_id, chat_id, message_id)
        if outcome is Outcome.CONFIRMED:
            del self._pending[token]
        return outcome, item

    def cancel(
        self, token: str, user_id: int, chat_id: int | None, message_id: int | None
    ) -> Pending | None:
        outcome, item = self._check(token, user_id, chat_id, message_id)
        if outcome is not Outcome.CONFIRMED:
            return None
        del self._pending[token]
        return item

    def discard(self, token: str) -> None:
        """Forget a token whose request could not be audited."""
        self._pending.pop(token, None)

    def expired(self) -> list[Pending]:
        """Expired entries whose expiry is not yet recorded; marks them recorded.
        Also forgets tombstones older than :data:`TOMBSTONE`."""
        now = self.clock()
        fresh: list[Pending] = []
        for token, item in list(self._pending.items()):
            if now < item.expires_at:
                continue
            if not item.expired_recorded:
                item.expired_recorded = True
                fresh.append(item)
            elif now >= item.expires_at + TOMBSTONE:
                del self._pending[token]
        return fresh

    def put_back(self, items: list[Pending]) -> None:
        """Make ``items`` due again: :meth:`expired` returned them, but their expiry could
        not be recorded."""
        for item in items:
            item.expired_recorded = False

    def mark_expiry_recorded(self, item: Pending) -> bool:
        """True the first time (the caller then audits the expiry)."""
        if item.expired_recorded:
            return False
        item.expired_recorded = True
        return True
