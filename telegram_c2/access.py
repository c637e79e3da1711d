"""Who may do what, deny by default (docs/ledger.md invariant 8).

Admins (``C2_TELEGRAM_ADMIN_IDS``) may command, viewers (``C2_TELEGRAM_VIEWER_IDS``) may
read, everyone else gets :data:`NEUTRAL_REFUSAL` — the same text whatever they sent, so a
stranger learns nothing about commands, bots or whether the user id was close. Only
private chats are served unless a chat id is in ``C2_TELEGRAM_ALLOWED_CHAT_IDS``: in a
group, anyone could read the replies.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from core.config import TelegramSettings

NEUTRAL_REFUSAL = "Sorry, this bot is not available."


class Level(Enum):
    """What a command needs."""

    READ = "read"
    WRITE = "write"


class Rank(Enum):
    NOBODY = 0
    VIEWER = 1
    ADMIN = 2


@dataclass(frozen=True)
class Decision:
    allowed: bool
    #: What the user is told on a refusal.
    reply: str = ""
    #: Why, for the audit row only (never shown to the user).
    reason: str = ""


class Access:
    def __init__(self, settings: TelegramSettings) -> None:
        self.admins = frozenset(settings.admin_ids)
        # An id in both lists is an admin: the stronger grant wins, explicitly.
        self.viewers = frozenset(settings.viewer_ids) - self.admins
        self.allowed_chats = frozenset(settings.allowed_chat_ids)

    def rank(self, user_id: int | None) -> Rank:
        if user_id is None:
            return Rank.NOBODY
        if user_id in self.admins:
            return Rank.ADMIN
        if user_id in self.viewers:
            return Rank.VIEWER
        return Rank.NOBODY

    def chat_allowed(self, chat_id: int | None, chat_type: str | None) -> bool:
        if chat_id is None:
            return False
        return chat_type == "private" or chat_id in self.allowed_chats

    def decide(
        self, user_id: int | None, chat_id: int | None, chat_type: str | None, level: Level
    ) -> Decision:
        rank = self.rank(user_id)
        if rank is Rank.NOBODY:
            return Decision(False, NEUTRAL_REFUSAL, "unknown user")
        if not self.chat_allowed(chat_id, chat_type):
            # Same neutral text: the group's other members must not learn who is an admin.
            return Decision(False, NEUTRAL_REFUSAL, f"chat not allowed ({chat_type})")
        if level is Level.WRITE and rank is not Rank.ADMIN:
            return Decision(False, "Read-only access: this command needs an admin.", "viewer")
        return Decision(True)
