"""Locks the single-writer guard against the owner role (docs/database-roles.md).

The migrations create the guard — ``trading.guard_ledger_writer()`` and one statement
trigger per ledger table — as the owner, and a table's owner may disable or drop its
triggers and replace its own functions. So after every upgrade the admin login:

1. takes ownership of the guard function: the owner can no longer replace it with one
   that lets everybody write;
2. installs an event trigger (only a superuser may create one) whose function lives in a
   schema of its own, ``alpha_guard``, that the owner does not own (the owner of a
   schema may drop anything in it). At the end of every DDL command it refuses the
   command unless each ledger table still exists in ``trading`` with its single-writer
   trigger enabled on the guard function. Disabling, dropping or replacing a trigger or
   the guard, dropping or renaming a ledger table or the schema are refused.

``alpha db downgrade base`` (which drops the schema) unlocks first, with the admin
login, and ``alpha db upgrade`` locks again.

What stays possible for a superuser is stated in the README's security section.
"""

from __future__ import annotations

import logging

from psycopg import sql

from core import db
from core.config import Settings

log = logging.getLogger(__name__)

LEDGER_TABLES = ("fills", "orders", "funding")
EVENT_TRIGGER = "alpha_keep_ledger_guard"
GUARD_SCHEMA = "alpha_guard"

_CHECK = """
CREATE OR REPLACE FUNCTION alpha_guard.keep_ledger_guard() RETURNS event_trigger
LANGUAGE plpgsql AS $$
DECLARE
    t text;
BEGIN
    IF to_regnamespace('trading') IS NULL
       OR to_regprocedure('trading.guard_ledger_writer()') IS NULL THEN
        RAISE EXCEPTION 'the ledger schema "trading" and its guard must stay'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'alpha db downgrade base unlocks with the admin login first';
    END IF;
    FOREACH t IN ARRAY ARRAY['fills', 'orders', 'funding'] LOOP
        IF to_regclass('trading.' || t) IS NULL THEN
            RAISE EXCEPTION 'trading.% is the ledger: it may not be dropped or renamed', t
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NOT EXISTS (
            SELECT 1 FROM pg_trigger g
             WHERE g.tgrelid = ('trading.' || t)::regclass
               AND g.tgname = t || '_single_writer'
               AND g.tgenabled = 'O'
               AND g.tgfoid = 'trading.guard_ledger_writer()'::regprocedure
        ) THEN
            RAISE EXCEPTION 'the single-writer trigger of trading.% must stay as it is', t
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'docs/database-roles.md: the single-writer guard';
        END IF;
    END LOOP;
END $$
"""


def lock(settings: Settings, dbname: str | None = None) -> list[str]:
    """Apply (idempotently) as the admin login; returns what was done, or why not."""
    name = dbname or settings.postgres.db
    with db.admin_connect(settings, dbname=name) as admin:
        row = admin.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        if not (row and row[0]):
            return [
                f"guard not locked: {settings.postgres.user} is not a superuser (only one may "
                "create the event trigger); the owner role can still disable the guard"
            ]
        if admin.execute("SELECT to_regprocedure('trading.guard_ledger_writer()')").fetchone() == (
            None,
        ):
            return ["guard not locked: the schema is not migrated"]
        me = sql.Identifier(settings.postgres.user)
        with admin.transaction():
            admin.execute(
                sql.SQL("ALTER FUNCTION trading.guard_ledger_writer() OWNER TO {}").format(me)
            )
            admin.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(
                    sql.Identifier(GUARD_SCHEMA), me
                )
            )
            admin.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(
                sql.Identifier(GUARD_SCHEMA)))  # fmt: skip
            admin.execute(_CHECK)
            admin.execute("REVOKE ALL ON FUNCTION alpha_guard.keep_ledger_guard() FROM PUBLIC")
            exists = admin.execute(
                "SELECT 1 FROM pg_event_trigger WHERE evtname = %s", (EVENT_TRIGGER,)
            ).fetchone()
            if not exists:
                admin.execute(
                    sql.SQL(
                        "CREATE EVENT TRIGGER {} ON ddl_command_end "
                        "EXECUTE FUNCTION alpha_guard.keep_ledger_guard()"
                    ).format(sql.Identifier(EVENT_TRIGGER))
                )
    done = [f"{name}: single-writer guard locked (owned by {settings.postgres.user}, DDL checked)"]
    log.info("%s", done[0])
    return done


def unlock(settings: Settings, dbname: str | None = None) -> None:
    """Drop the event trigger (before a downgrade to base drops the schema)."""
    with db.admin_connect(settings, dbname=dbname or settings.postgres.db) as admin:
        admin.execute(sql.SQL("DROP EVENT TRIGGER IF EXISTS {}").format(
            sql.Identifier(EVENT_TRIGGER)))  # fmt: skip
        admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
            sql.Identifier(GUARD_SCHEMA)))  # fmt: skip
