"""``/pause`` received → the running bot's state applied (issue 19's third reaction path).

Used by ``bench/reaction.py`` and ``bench/fleet.py`` on their running bots. Each event
goes through the code the Telegram C2 and the HTTP API run for ``/pause`` and
``/resume`` (``core/operator/state.change_state``): one audit transaction through
PgBouncer as the C2's role, the registry's status, the bot's state key and the
``state`` notice on its command stream; the bot's reader thread takes the notice, its
decision thread records ``bot:{id}:state_applied`` (state, wall time, command id).

Two figures per event, both ending at the bot's recorded wall time (same machine,
same clock):

- **operator action → applied**: from the call (before the audit transaction opens);
- **notice → applied**: from just before the notice's ``XADD``: the Redis stream hop to
  the bot, its queue and its decision thread, comparable with the raw stream hop.

Pause and resume alternate on each bot in turn, so every event changes the state. The
bots see no candles meanwhile: this is the path on an idle fleet.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from core.operator.audit import AuditEntry, Auditor
from core.operator.control import Control
from core.operator.db import Database
from core.operator.redis_pool import RedisPool
from core.operator.registry import load_bots
from core.operator.state import change_state


class StampedControl(Control):
    """The C2's control, noting the wall time just before each ``state`` notice."""

    def __init__(self, redis: RedisPool) -> None:
        super().__init__(redis)
        self.notice_at: dict[str, float] = {}

    async def send(
        self, bot: Any, command: str, requested_by: str, command_id: str, **extra: str
    ) -> None:
        self.notice_at[command_id] = time.time()
        await super().send(bot, command, requested_by, command_id, **extra)


async def _measure(
    settings: Any, bot_redis: Any, bot_ids: list[str], n: int, timeout: float
) -> tuple[list[float], list[float]]:
    from core import redis_keys

    pool, db = RedisPool(settings), Database(settings)
    control, auditor = StampedControl(pool), Auditor(db)
    every = await load_bots(db)
    action: list[float] = []
    hop: list[float] = []
    try:
        for i in range(n):
            bot_id = bot_ids[i % len(bot_ids)]
            state = "paused" if (i // len(bot_ids)) % 2 == 0 else "running"

            def effect(detail: str, target: str | None, state: str = state) -> Any:
                command = "pause" if state == "paused" else "resume"
                entry = AuditEntry(command, "accepted", bot_id=target, detail=detail,
                                   channel="cli", username="bench")  # fmt: skip
                return auditor.effect(entry)

            before = set(control.notice_at)
            started = time.time()
            await change_state(control, effect, bot_id, every, state, allow_all=False,
                               requested_by="bench")  # fmt: skip
            (command_id,) = set(control.notice_at) - before
            key = redis_keys.state_applied(bot_id)  # type: ignore[arg-type]
            deadline = time.monotonic() + timeout
            while True:
                got = bot_redis.hgetall(key)
                if got.get("id") == command_id:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{bot_id} did not acknowledge {state} in {timeout}s")
                await asyncio.sleep(0.0005)
            applied = datetime.fromisoformat(got["at"]).timestamp()
            action.append(1000 * (applied - started))
            hop.append(1000 * (applied - control.notice_at[command_id]))
    finally:
        await pool.close()
    return action, hop


def measure_pauses(
    settings: Any, bot_redis: Any, bot_ids: list[str], n: int, timeout: float = 30
) -> tuple[list[float], list[float]]:
    """(operator action → applied, notice → applied) in ms for ``n`` state changes,
    round robin over ``bot_ids``; the bots are left ``running``."""
    if not bot_ids:
        return [], []
    rounds = -(-n // len(bot_ids))
    total = (rounds + rounds % 2) * len(bot_ids)  # an even round count ends on resume
    action, hop = asyncio.run(_measure(settings, bot_redis, bot_ids, total, timeout))
    return action[:n], hop[:n]
