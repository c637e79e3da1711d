"""Create the four roles and the database, then migrate as the owner, directly.

The administrative login (``POSTGRES_USER``) creates what is missing: each role with
LOGIN and its SCRAM password from configuration (updated when the configured password
changed), then the database owned by the owner role. Passwords are sent as SCRAM
verifiers computed here, so the plain text never reaches the server or its logs.
Migrations then run as the owner over a direct connection, never through PgBouncer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.pool import NullPool

from core import db
from core.config import DatabaseRoleSettings, Role, Settings
from database import migrate

log = logging.getLogger(__name__)


def role_names(db_roles: DatabaseRoleSettings) -> dict[str, str]:
    """``{"owner": "alpha_owner", …}``: what ``database.migrate`` hands the migrations."""
    return {role.value: db_roles.name(role) for role in Role}


def ensure_roles(admin: psycopg.Connection[Any], db_roles: DatabaseRoleSettings) -> list[str]:
    """Create missing roles and fix changed passwords; returns what was done, per role."""
    done: list[str] = []
    for role in Role:
        name = db_roles.name(role)
        secret = db_roles.password(role)
        password = secret.get_secret_value() if secret else None
        row = admin.execute(
            "SELECT rolpassword, rolcanlogin FROM pg_authid WHERE rolname = %s", (name,)
        ).fetchone()
        ident = sql.Identifier(name)
        if row is None:
            stmt = sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(ident)
            if password:
                stmt += sql.SQL(" PASSWORD {}").format(sql.Literal(db.scram_verifier(password)))
            admin.execute(stmt)
            done.append(f"created role {name}")
            continue
        stored, can_login = row
        if password and not db.scram_matches(stored, password):
            verifier = db.scram_verifier(password)
            admin.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(verifier)))
            done.append(f"updated password of {name}")
        if not can_login:
            admin.execute(sql.SQL("ALTER ROLE {} LOGIN").format(ident))
            done.append(f"allowed {name} to log in")
    done += _backup_rights(admin, db_roles.name(Role.BACKUP))
    return done


def _backup_rights(admin: psycopg.Connection[Any], name: str) -> list[str]:
    """The backup role creates the scratch databases it restores each dump into
    (``CREATEDB``); what it may read is granted by migration 0010, table by table —
    not ``pg_read_all_data``, which also reads ``pg_authid``, every role's verifier."""
    row = admin.execute("SELECT rolcreatedb FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    assert row is not None
    if row[0]:
        return []
    admin.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(name)))
    return [f"allowed {name} to create its scratch databases"]


def ensure_database(admin: psycopg.Connection[Any], name: str, owner: str) -> bool:
    """Create the database owned by ``owner`` if missing; True when it was created."""
    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if exists:
        return False
    admin.execute(
        sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner))
    )
    return True


def ensure_database_owner(admin: psycopg.Connection[Any], name: str, owner: str) -> str | None:
    """A database a DBA created first (``createdb NAME``) belongs to the admin, and since
    PostgreSQL 15 only a database's owner may create in its ``public`` schema: hand it to
    the owner role, once, and say so. Returns what was done."""
    row = admin.execute(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)
    ).fetchone()
    if row is None or row[0] == owner:
        return None
    admin.execute(
        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(name), sql.Identifier(owner))
    )
    return f"database {name} now belongs to {owner} (it was {row[0]}'s)"


def scram_verifiers(admin: psycopg.Connection[Any], names: Iterable[str]) -> dict[str, str]:
    """The stored SCRAM verifiers of ``names`` (for PgBouncer's ``auth_file``)."""
    rows = admin.execute(
        "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s) "
        "AND rolpassword LIKE 'SCRAM-SHA-256$%%'",
        (list(names),),
    ).fetchall()
    return {name: verifier for name, verifier in rows}


def _owner_engine(settings: Settings, dbname: str | None) -> Engine:
    # Connect once through core.db first: an unreachable server or a refused login then
    # fails as one masked line, not as a SQLAlchemy traceback.
    db.connect(settings, Role.OWNER, direct=True, dbname=dbname).close()
    # One migration, one connection: no pool to outlive it (and hold the database open).
    return db.engine(settings, Role.OWNER, direct=True, dbname=dbname, poolclass=NullPool)


def upgrade(settings: Settings, revision: str = "head", *, dbname: str | None = None) -> None:
    """Migrate as the owner over a direct connection."""
    from sqlalchemy.exc import ProgrammingError

    eng = _owner_engine(settings, dbname)
    try:
        with eng.begin() as conn:
            migrate.upgrade(conn, role_names(settings.db_roles), revision)
    except ProgrammingError as exc:
        if not isinstance(exc.orig, psycopg.errors.InsufficientPrivilege):
            raise
        raise _not_ours(settings, dbname or settings.postgres.db) from None
    finally:
        eng.dispose()


def _not_ours(settings: Settings, name: str) -> Exception:
    """The one line for a database the owner role may not create in."""
    from core.errors import UserError

    owner = settings.db_roles.name(Role.OWNER)
    with db.connect(settings, Role.OWNER, direct=True, dbname=name) as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
    holder = row[0] if row else "another role"
    return UserError(
        f"{owner} may not create objects in database {name} (it is owned by {holder}): run"
        f" `alpha db upgrade` with the admin login, or as a superuser: ALTER DATABASE {name}"
        f" OWNER TO {owner}"
    )


def downgrade(settings: Settings, revision: str, *, dbname: str | None = None) -> None:
    from alembic.util import CommandError

    from core.errors import UserError

    eng = _owner_engine(settings, dbname)
    try:
        with eng.begin() as conn:
            migrate.downgrade(conn, role_names(settings.db_roles), revision)
    except CommandError as exc:  # an unknown or unreachable revision
        raise UserError(f"cannot downgrade to {revision!r}: {exc}") from None
    finally:
        eng.dispose()


def current(settings: Settings, *, dbname: str | None = None) -> str | None:
    eng = _owner_engine(settings, dbname)
    try:
        with eng.connect() as conn:
            return migrate.current(conn)
    finally:
        eng.dispose()


def bootstrap(settings: Settings, *, dbname: str | None = None) -> list[str]:
    """Roles and database (as the admin login); returns what was done."""
    name = dbname or settings.postgres.db
    with db.admin_connect(settings) as admin:
        done = ensure_roles(admin, settings.db_roles)
        if ensure_database(admin, name, settings.db_roles.name(Role.OWNER)):
            done.append(f"created database {name}")
        else:
            handed = ensure_database_owner(admin, name, settings.db_roles.name(Role.OWNER))
            if handed:
                done.append(handed)
    for line in done:
        log.info("%s", line)
    return done


def admin_available(settings: Settings) -> bool:
    """Whether the administrative login works (production may not hand it out)."""
    try:
        with db.admin_connect(settings) as conn:
            row = conn.execute(
                "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            return bool(row and row[0])
    except psycopg.OperationalError:
        return False


def verifiers_for(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The four roles' stored verifiers (plus ``extra``), read with the admin login."""
    with db.admin_connect(settings) as admin:
        found = scram_verifiers(admin, role_names(settings.db_roles).values())
    return {**found, **(extra or {})}
