"""Telling a running bot to take its updated registration (``alpha bots update``).

After the update is committed, one ``reload`` entry goes on the bot's command stream
(the path pause, flatten and reset-risk take) and the requester waits for the bot's
one-line answer on ``bot:{id}:reply:{command id}`` (bots/runtime/reload.py): ``applied:
…``, ``needs restart: …``, ``nothing to apply`` or ``refused: …``. A bot with no
heartbeat is not running: it reads its registration when it starts, so nothing is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from core import redis_keys
from core.ids import BotId
from core.operator.control import command_entry
from core.redis_client import sync_reply

#: How long the CLI waits for the bot's answer by default: the bot reads its command
#: stream between candles, within about a second.
DEFAULT_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class Reload:
    command_id: str
    #: The bot's answer; ``None``: none within the timeout.
    answer: str | None

    @property
    def outcome(self) -> str:
        """The audit outcome of the answer."""
        if self.answer is None:
            return "failed"
        if self.answer.startswith(("applied", "nothing")):
            return "accepted"
        return "refused"


def running(client: redis.Redis, bot_id: BotId) -> bool:
    return bool(client.exists(redis_keys.heartbeat(bot_id)))


def request_reload(
    client: redis.Redis,
    bot_id: BotId,
    requested_by: str,
    command_id: str,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> Reload:
    """Send ``reload`` on the bot's command stream; its answer, or None after ``timeout``."""
    client.xadd(
        redis_keys.commands_stream(bot_id),
        command_entry("reload", requested_by, command_id),  # type: ignore[arg-type]
    )
    reply = sync_reply(
        client.blpop([redis_keys.command_reply(bot_id, command_id)], timeout=timeout)
    )
    return Reload(command_id, None if reply is None else str(reply[1]))
