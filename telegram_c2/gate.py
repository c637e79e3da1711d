"""What a chat message must pass, besides the access rules, before it runs as a command:
it is new (not an edit), fresh (not held by Telegram for longer than
``C2_TELEGRAM_MAX_MESSAGE_AGE_SECONDS``), and within its user's
``C2_TELEGRAM_COMMANDS_PER_MINUTE``. Every message that fails is audited by the caller;
these classes only decide and remember what was already said, so a flood is not
answered message by message (each answer spends the bot's Telegram send quota, which
the alerts need).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import timedelta

from telegram import Message

from core.config import TelegramSettings
from core.operator.confirm import Clock
from telegram_c2 import fmt

MINUTE = timedelta(minutes=1)
#: Users remembered by the rate limit and the neutral-refusal memory (oldest forgotten).
MAX_REMEMBERED = 10_000


class RateLimit:
    """At most ``per_minute`` commands per user in any sliding minute."""

    def __init__(self, per_minute: int, clock: Clock) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._runs: OrderedDict[int, deque] = OrderedDict()
        self._warned: dict[int, object] = {}

    def allow(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, warn): ``warn`` is True for the first refusal while the user is over."""
        now = self._clock()
        runs = self._runs.pop(user_id, deque())
        while runs and now - runs[0] >= MINUTE:
            runs.popleft()
        self._runs[user_id] = runs
        while len(self._runs) > MAX_REMEMBERED:
            self._runs.popitem(last=False)
        if len(runs) < self.per_minute:
            runs.append(now)
            self._warned.pop(user_id, None)
            return True, False
        # Warned once per window: keyed by the oldest run still counted.
        first = self._warned.get(user_id) != runs[0]
        self._warned[user_id] = runs[0]
        return False, first


class Once:
    """Remembers keys already answered (bounded), for the one neutral refusal per
    stranger: a stranger learns nothing from the second message that the first did not
    tell, and the bot is not made to send a message per message of a flood."""

    def __init__(self) -> None:
        self._seen: OrderedDict[object, None] = OrderedDict()

    def first(self, key: object) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)
        return True


class Gate:
    def __init__(self, settings: TelegramSettings, clock: Clock) -> None:
        self.max_age = timedelta(seconds=settings.max_message_age_seconds)
        self.rate = RateLimit(settings.commands_per_minute, clock)
        self.neutral = Once()
        self._clock = clock

    def stale(self, message: Message, edited: bool) -> tuple[str, str] | None:
        """(audit reason, reply) when the message must not run, else ``None``."""
        if edited or message.edit_date is not None:
            return "edited message", "Edited messages are not executed; send the command anew."
        age = self._clock() - message.date
        if age > self.max_age:
            limit = int(self.max_age.total_seconds())
            return (
                f"message too old ({int(age.total_seconds())}s)",
                f"Not executed: sent {fmt.age(age)} ago, over the {limit} s limit. "
                "Send it again if you still mean it.",
            )
        return None
