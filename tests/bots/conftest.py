"""Fixtures shared by the bot tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import core.db
from core.config import Role
from core.ids import BotId


class Opened(list[psycopg.Connection[Any]]):
    """The real connections opened, in order, and the user each logged in as (read when
    it opened: a closed connection no longer says)."""

    def __init__(self) -> None:
        super().__init__()
        self.users: list[str] = []


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[Opened]:
    """Every PostgreSQL connection opened during the test (``psycopg.connect`` counted,
    the connections themselves real)."""
    conns = Opened()
    real = psycopg.connect

    def counting(*args: Any, **kwargs: Any) -> psycopg.Connection[Any]:
        conn = real(*args, **kwargs)
        conns.append(conn)
        conns.users.append(conn.info.user)
        return conn

    monkeypatch.setattr(core.db.psycopg, "connect", counting)
    yield conns
    for conn in conns:
        conn.close()


#: The bot the ``registered`` fixture puts in the registry (status ``active``).
REGISTERED = BotId("beat_bot")


@pytest.fixture
def registered(database: Any) -> Any:
    """The test's database with :data:`REGISTERED` in ``trading.bots``."""
    with database.connect(Role.OWNER, True) as conn:
        conn.execute(
            "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name, mode)"
            " VALUES (%s, 'beat1', %s, 'test', 'test', 'paper')",
            (REGISTERED, REGISTERED),
        )
    return database


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
