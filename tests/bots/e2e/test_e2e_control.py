"""Operator control of a running bot, end to end (docs/ledger.md invariant 7).

One ShortSeller (cooldown 0, EMA 3/5) on a market that crosses below its EMAs every few
bars and recovers in between, so each phase offers it both an entry and an exit:
paused (exits still managed, no entries), resumed, flatten (only its position, ``ks``
orders), the global kill flag (no entries) and stopped (no orders at all, not even
exits or a flatten).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from core import redis_keys
from tests.bots.e2e.harness import QUICK_SHORTSELLER, crossing_history, flat_bars, stack, wait

CONFIG = QUICK_SHORTSELLER
BOT = "ss_ctl"


def _bars():
    history = crossing_history()
    live = [(60190, 60190, 59800, 59800)]  # bar 20: cross below both EMAs
    p = 59800
    # +30 ×4 brings the regime back to inactive (bar 23, 28 …); −250 crosses again.
    for step in [30, 30, 30, 30, -250] * 6:
        q = p + step
        live.append((p, max(p, q), min(p, q), q))
        p = q
    return history, [*live, *flat_bars(p, 30)]


def _links(s):
    """Reason codes of the bot's orders that executed, in order."""
    return [o["orderLinkId"].split("-")[1] for o in s.orders() if Decimal(o["cumExecQty"]) > 0]


@pytest.mark.parametrize("redis_mode", ["standalone", "cluster"])
def test_pause_resume_flatten_kill_and_stop(database, redis, tmp_path, redis_mode):
    """On a Redis Cluster (one node, CROSSSLOT enforced) the bot has no DB of its own, and
    reads its two streams with one thread each (bots/runtime/streams.py)."""
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "ctl", "shortseller", CONFIG,
                   redis_db=None if redis_mode == "cluster" else 5)  # fmt: skip
        s.start_bot(BOT)
        kill = database.redis(s.settings.redis.infra_db)

        s.play()  # bar 20: entry while running
        assert s.qty(BOT) == Decimal("-0.117")

        s.set_state(BOT, "paused")
        s.play(3)  # bar 23: regime inactive -> the regime exit still goes out while paused
        assert s.qty(BOT) == 0
        assert _links(s) == ["en", "rg"]
        assert s.open_orders(BOT) == []  # its stop and take profit were cancelled
        s.play(2)  # bar 25 crosses again: no entry while paused
        assert s.qty(BOT) == 0
        assert len(s.orders()) == 4  # entry, stop, take profit, regime exit: nothing new

        s.set_state(BOT, "running")
        s.play(5)  # bar 30 crosses: entries are back
        assert s.qty(BOT) == Decimal("-0.117")
        other = s.open_orders(BOT)
        assert sorted(o["orderLinkId"].split("-")[1] for o in other) == ["sl", "tp"]

        s.command(BOT, "flatten")
        wait(lambda: s.qty(BOT) == 0, what="flatten")
        s.settle()
        assert _links(s)[-1] == "ks"
        assert s.open_orders(BOT) == []

        kill.set(redis_keys.KILL_FLAG, "1")
        try:
            s.play(5)  # bar 35 crosses: the kill flag refuses the entry
            assert s.qty(BOT) == 0
            assert _links(s) == ["en", "rg", "en", "ks"]
        finally:
            kill.delete(redis_keys.KILL_FLAG)

        s.play(5)  # bar 40 crosses: trading again (the refused entry was forgotten)
        held = s.qty(BOT)
        assert held < 0  # 7 % × 10 of the equity (after three closed trades) / 59,280
        placed = len(s.orders())

        s.set_state(BOT, "stopped")
        s.play(4)  # bar 43: regime inactive, but a stopped bot sends nothing, exits included
        s.command(BOT, "flatten")  # refused while stopped
        s.play(1)
        assert s.qty(BOT) == held
        assert len(s.orders()) == placed


def _operator(s, state: str) -> None:
    """``state`` set as the C2 and the API set it (core/operator/state.change_state): the
    registry row and the audit row in one transaction, the Redis key, then the notice."""
    import asyncio

    from core.operator.audit import AuditEntry, Auditor
    from core.operator.control import Control
    from core.operator.db import Database
    from core.operator.redis_pool import RedisPool
    from core.operator.registry import load_bots
    from core.operator.state import change_state

    async def run() -> None:
        pool, db = RedisPool(s.settings), Database(s.settings)
        auditor = Auditor(db)

        def effect(detail: str, bot_id: str | None):  # type: ignore[no-untyped-def]
            entry = AuditEntry("pause", "accepted", bot_id=bot_id, detail=detail,
                               channel="cli")  # fmt: skip
            return auditor.effect(entry)

        try:
            await change_state(Control(pool), effect, BOT, await load_bots(db), state,
                               allow_all=False, requested_by="test")  # fmt: skip
        finally:
            await pool.close()

    asyncio.run(run())


def _acknowledged(s, state: str) -> dict[str, str]:
    key = redis_keys.state_applied(BOT)  # type: ignore[arg-type]
    return wait(
        lambda: (h := s.bot_redis(BOT).hgetall(key)).get("state") == state and h,
        what=f"the bot to acknowledge {state}",
    )


def test_a_paused_bot_stays_paused_when_redis_loses_its_state_key(database, redis, tmp_path):
    """A key that is gone reads as running. Before bots/runtime/obeyed_state.py, a bot
    paused by the operator traded again once Redis lost the key (a flush, a restart
    within the AOF's last second, a failover to a replica that had not received it).
    It now obeys the registry's status too, and puts the key back."""
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "ctl", "shortseller", CONFIG, redis_db=None)
        s.start_bot(BOT)
        s.play()  # bar 20: entry while running
        assert s.qty(BOT) == Decimal("-0.117")

        _operator(s, "paused")
        _acknowledged(s, "paused")
        state_key = redis_keys.bot_state(BOT)  # type: ignore[arg-type]
        s.bot_redis(BOT).delete(state_key)  # Redis lost it

        s.play(3)  # bar 23: the regime exit still goes out while paused
        assert s.qty(BOT) == 0
        s.play(2)  # bar 25 crosses again: no entry, the registry says paused
        assert s.qty(BOT) == 0
        assert _links(s) == ["en", "rg"]
        assert s.bot_redis(BOT).get(state_key) == "paused"  # put back from the registry

        _operator(s, "running")  # and a resume is obeyed as before
        _acknowledged(s, "running")
        s.play(5)  # bar 30 crosses: entries are back
        assert s.qty(BOT) == Decimal("-0.117")


def test_a_running_bot_acknowledges_the_operators_state_change(database, redis, tmp_path):
    """The C2's and the API's path (core/operator/state.change_state) sets the state key
    and leaves a ``state`` notice; the running bot records what it now obeys in
    ``bot:{id}:state_applied``, even when the new state is ``stopped``."""
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "ctl", "shortseller", CONFIG, redis_db=None)  # the shared DB 0
        s.start_bot(BOT)
        applied_key = redis_keys.state_applied(BOT)  # type: ignore[arg-type]
        assert not s.bot_redis(BOT).exists(applied_key)

        for state in ("paused", "running", "stopped"):
            _operator(s, state)
            assert s.bot_redis(BOT).get(redis_keys.bot_state(BOT)) == state  # type: ignore[arg-type]
            applied = _acknowledged(s, state)
            assert applied["id"] and applied["at"] > "2020"


def test_a_running_bot_acknowledges_alpha_bots_pause_and_resume(database, redis, tmp_path):
    """``alpha bots pause`` leaves the same ``state`` notice as the C2: the running bot
    acknowledges it at once and re-reads its registry row, instead of at its next
    heartbeat (before, the CLI only wrote the key, and nothing was acknowledged)."""
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "ctl", "shortseller", CONFIG, redis_db=None)
        s.start_bot(BOT)
        for action, state in (("pause", "paused"), ("resume", "running")):
            done = database.alpha("bots", action, BOT)
            assert done.returncode == 0, done.stderr
            applied = _acknowledged(s, state)
            stream = redis_keys.commands_stream(BOT)  # type: ignore[arg-type]
            [(_, notice)] = s.bot_redis(BOT).xrevrange(stream, count=1)
            assert notice["requested_by"].startswith("cli:") and applied["id"] == notice["id"]
