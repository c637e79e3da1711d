"""What a bot obeys (bots/runtime/obeyed_state.py): the stricter of its Redis state key
and its registry row, on the real PostgreSQL, PgBouncer and Redis. The end-to-end case
(a paused bot whose key Redis lost does not enter) is in
tests/bots/e2e/test_e2e_control.py."""

from __future__ import annotations

import dataclasses
from typing import Any

from bots.runtime.heartbeat import Heartbeat
from bots.runtime.obeyed_state import REREAD_SECONDS, ObeyedState
from core import redis_keys
from core.config import PgBouncerSettings, Role
from core.db import KeptConnection
from core.risk import BotState
from devenv.ports import free_port
from tests.bots.conftest import REGISTERED as BOT
from tests.bots.conftest import Clock


def _registry(database: Any, status: str) -> None:
    with database.connect(Role.OWNER, True) as conn:
        conn.execute("UPDATE trading.bots SET status = %s WHERE bot_id = %s", (status, BOT))


def _obeyed(database: Any, status: str, clock: Clock) -> tuple[ObeyedState, KeptConnection]:
    kept = KeptConnection(database.settings, Role.BOT)
    return ObeyedState(kept, database.redis(), BOT, status, clock=clock), kept


def test_a_lost_key_obeys_the_registry_and_is_put_back(registered: Any) -> None:
    _registry(registered, "paused")
    clock = Clock()
    obeyed, kept = _obeyed(registered, "paused", clock)
    key = redis_keys.bot_state(BOT)
    client = registered.redis()
    try:
        client.delete(key)
        assert obeyed.obey(None) is BotState.PAUSED  # not running, as the key alone says
        assert client.get(key) == "paused"
        assert obeyed.obey("stopped") is BotState.STOPPED  # the stricter key wins
        client.set(key, "running")  # an operator's value is never overwritten
        assert obeyed.obey("running") is BotState.PAUSED
        assert client.get(key) == "running"
    finally:
        kept.close()


def test_a_resume_is_obeyed_once_its_registry_commit_is_read(registered: Any) -> None:
    """The C2 writes the key before its transaction commits: for a moment the key says
    running and the registry still paused. The bot re-reads the registry at most once a
    second while they disagree, and at once on the ``state`` notice."""
    _registry(registered, "paused")
    clock = Clock()
    obeyed, kept = _obeyed(registered, "paused", clock)
    try:
        assert obeyed.obey("running") is BotState.PAUSED  # nothing committed yet
        _registry(registered, "active")  # the commit
        assert obeyed.obey("running") is BotState.PAUSED  # read less than a second ago
        clock.now += REREAD_SECONDS
        assert obeyed.obey("running") is BotState.RUNNING

        _registry(registered, "paused")
        obeyed.reread()  # the notice of a pause
        assert obeyed.obey(None) is BotState.PAUSED
        _registry(registered, "active")
        obeyed.reread()  # the notice of the resume
        assert obeyed.obey("running") is BotState.RUNNING
    finally:
        kept.close()


def test_the_heartbeat_brings_the_registry_status(registered: Any) -> None:
    clock = Clock()
    obeyed, kept = _obeyed(registered, "active", clock)
    beat = Heartbeat(kept, registered.redis(), BOT, clock=clock, on_status=obeyed.registry_read)
    try:
        assert obeyed.registry is BotState.RUNNING
        _registry(registered, "stopped")  # e.g. `alpha bots` changed it: no notice
        beat.beat()
        assert obeyed.registry is BotState.STOPPED
        assert obeyed.obey(None) is BotState.STOPPED
    finally:
        kept.close()


def test_a_registry_that_does_not_answer_keeps_the_last_status(registered: Any) -> None:
    nowhere = PgBouncerSettings(host="127.0.0.1", port=free_port())  # nothing listens
    kept = KeptConnection(dataclasses.replace(registered.settings, pgbouncer=nowhere), Role.BOT)
    clock = Clock()
    obeyed = ObeyedState(kept, registered.redis(), BOT, "paused", clock=clock)
    clock.now += REREAD_SECONDS
    assert obeyed.obey("running") is BotState.PAUSED  # the re-read failed: still paused
    obeyed.reread()
    assert obeyed.obey("running") is BotState.PAUSED
