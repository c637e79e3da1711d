"""`alpha db upgrade` on a database a DBA created first (owned by another role): with
the admin login it hands the database to the owner role and migrates; without it, one
line says what to run — never a SQLAlchemy traceback."""

from __future__ import annotations

from psycopg import sql


def _dba_creates(services, name: str) -> None:
    with services.admin() as admin:  # like `createdb NAME` by the DBA: owned by the admin
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def test_with_the_admin_login_the_database_is_handed_over(database, services) -> None:
    name = f"{services.prefix}_dba1"
    _dba_creates(services, name)
    try:
        done = database.alpha("db", "upgrade", env={"POSTGRES_DB": name})
        assert done.returncode == 0, done.stderr
        owner = f"{services.prefix}_owner"
        assert f"database {name} now belongs to {owner}" in done.stdout
        with services.admin(name) as conn:
            row = conn.execute(
                "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'trading'"
            ).fetchone()
        assert row == (owner,)
    finally:
        services.drop_database(name)


def test_without_the_admin_login_one_line_says_what_to_run(database, services) -> None:
    name = f"{services.prefix}_dba2"
    _dba_creates(services, name)
    try:
        env = {"POSTGRES_DB": name, "POSTGRES_USER": "nobody_here"}  # no admin login
        done = database.alpha("db", "upgrade", env=env)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last == (
            f"alpha: error: {services.prefix}_owner may not create objects in database {name}"
            f" (it is owned by {services.admin_settings.user}): run `alpha db upgrade` with the"
            f" admin login, or as a superuser: ALTER DATABASE {name} OWNER TO"
            f" {services.prefix}_owner"
        ), done.stderr
    finally:
        services.drop_database(name)
