"""A bot reads its fills' P&L over its kept connection, as its own role
(bots/runtime/notify.py).

Opening a connection per exit fill cost a SCRAM handshake through PgBouncer each time
(docs/fleet.md#how-fast-a-bot-reacts); the reads share the bot's one autocommit
connection, and a broken one is replaced on the next read. The reads once logged in as
the app role, whose password a bot's container does not have: in the production
rehearsal every trade notification went out without its P&L.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest
from pydantic import SecretStr

from bots.runtime import notify
from core.config import Role
from core.db import KeptConnection

FILL = {"exec_time": "2024-01-01T00:00:00+00:00", "symbol": "BTCUSDT", "seq": "1",
        "exec_id": "no-such-execution"}  # fmt: skip


@pytest.fixture
def reads(database):
    kept = KeptConnection(database.settings, Role.BOT)
    yield kept
    kept.close()


def test_p_and_l_reads_share_one_connection(reads, opened):
    for _ in range(3):  # no fold row: None, and said so in the log
        assert notify.closing_of(reads, "some_bot", FILL) is None
    assert len(opened) == 1


def test_a_broken_connection_is_replaced_on_the_next_read(reads, opened):
    assert notify.closing_of(reads, "some_bot", FILL) is None
    opened[0].close()  # as if PgBouncer or the server had dropped it
    assert notify.closing_of(reads, "some_bot", FILL) is None
    assert len(opened) == 2 and not opened[1].closed


def test_a_failed_read_starts_over_with_a_fresh_connection(reads, opened):
    assert notify.closing_of(reads, "some_bot", FILL) is None
    assert notify.closing_of(reads, "bad\x00bot", FILL) is None  # refused
    assert opened[0].closed  # whatever state the failure left it in, it is not reused
    assert notify.closing_of(reads, "some_bot", FILL) is None
    assert len(opened) == 2


def test_a_bot_holding_only_its_own_password_reads_the_p_and_l(database, caplog) -> None:
    """As in a bot's container: no other role's password in its settings."""
    roles = database.settings.db_roles.model_copy(
        update={"app_password": None, "owner_password": None, "listener_password": None}
    )
    settings = dataclasses.replace(database.settings, db_roles=roles)
    assert isinstance(settings.db_roles.bot_password, SecretStr)
    kept = KeptConnection(settings, Role.BOT)
    try:
        with caplog.at_level(logging.WARNING, logger=notify.log.name):
            assert notify.closing_of(kept, "some_bot", FILL) is None
    finally:
        kept.close()
    # The read ran (it found no fold row for this made-up fill) instead of failing to log in.
    assert "has no analytics.fill_pnl row" in caplog.text
    assert "not read from the ledger" not in caplog.text
