"""The owner role cannot take the single-writer guard apart (database/guard.py).

The template every test database is cloned from is locked as `alpha db upgrade` locks a
real one; each statement below runs as the owner, directly, and must be refused.
"""

from __future__ import annotations

import psycopg
import pytest

from core.config import Role
from database import guard

REFUSED_DDL = [
    "ALTER TABLE trading.fills DISABLE TRIGGER fills_single_writer",
    "ALTER TABLE trading.funding DISABLE TRIGGER ALL",
    "ALTER TABLE trading.orders DISABLE TRIGGER USER",
    "DROP TRIGGER fills_single_writer ON trading.fills",
    "ALTER TABLE trading.fills RENAME TO fills_before",
    "ALTER SCHEMA trading RENAME TO trading_before",
    "DROP TABLE trading.orders CASCADE",
    # The guard function now belongs to the admin login: not the owner's to replace.
    "CREATE OR REPLACE FUNCTION trading.guard_ledger_writer() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
    "ALTER FUNCTION trading.guard_ledger_writer() RENAME TO unguarded",
    "DROP FUNCTION trading.guard_ledger_writer() CASCADE",
    "DROP FUNCTION alpha_guard.keep_ledger_guard() CASCADE",
    "DROP SCHEMA alpha_guard CASCADE",
    "DROP SCHEMA trading CASCADE",
    f"DROP EVENT TRIGGER {guard.EVENT_TRIGGER}",
    f"ALTER EVENT TRIGGER {guard.EVENT_TRIGGER} DISABLE",
]


@pytest.mark.parametrize("statement", REFUSED_DDL)
def test_the_owner_cannot_disable_drop_or_replace_the_guard(database, statement: str) -> None:
    with database.connect(Role.OWNER, direct=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)
        conn.rollback()
        # And the guard still refuses the owner's own write.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="listener role"):
            conn.execute("DELETE FROM trading.fills")


def test_ordinary_migrations_still_run_as_the_owner(database) -> None:
    with database.connect(Role.OWNER, direct=True) as conn:
        conn.execute("ALTER TABLE trading.fills ADD COLUMN note text")
        conn.execute("CREATE INDEX fills_note ON trading.fills (note)")
        conn.execute("DROP INDEX trading.fills_note")
        conn.execute("ALTER TABLE trading.fills DROP COLUMN note")
        conn.execute("CREATE TABLE analytics.scratch (x int)")
        conn.execute("DROP TABLE analytics.scratch")
        conn.commit()


def test_locking_again_changes_nothing_and_says_so(database) -> None:
    assert guard.lock(database.settings, database.name) == [
        f"{database.name}: single-writer guard locked "
        f"(owned by {database.settings.postgres.user}, DDL checked)"
    ]
    with database.connect("admin") as admin:
        owner = admin.execute(
            "SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'guard_ledger_writer'"
        ).fetchone()
        triggers = admin.execute(
            "SELECT count(*) FROM pg_event_trigger WHERE evtname = %s", (guard.EVENT_TRIGGER,)
        ).fetchone()
    assert owner == (database.settings.postgres.user,) and triggers == (1,)
