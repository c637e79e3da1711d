"""``alpha api token create|list|revoke``, the stored form of a token, and who may read
the token table."""

from __future__ import annotations

import hashlib

import psycopg
import pytest
from api_harness import make_token

from core.config import Role


def _stored(database) -> list[tuple]:
    with database.connect(Role.OWNER, direct=True) as conn:
        return conn.execute(
            "SELECT name, role, token_hash, revoked_at IS NOT NULL"
            " FROM trading.api_tokens ORDER BY name"
        ).fetchall()


def test_create_prints_the_token_once_and_stores_only_its_sha256(database) -> None:
    made = database.alpha("api", "token", "create", "--role", "admin", "--name", "ops-1")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("alpha_") and len(token) >= 40 and "\n" not in token
    assert "shown this once" in made.stderr and token not in made.stderr
    [(name, role, digest, revoked)] = _stored(database)
    assert (name, role, revoked) == ("ops-1", "admin", False)
    assert bytes(digest) == hashlib.sha256(token.encode()).digest()

    listed = database.alpha("api", "token", "list")
    assert listed.returncode == 0 and "ops-1" in listed.stdout and "live" in listed.stdout
    assert token not in listed.stdout and token.removeprefix("alpha_") not in listed.stdout

    assert database.alpha("api", "token", "revoke", "ops-1").returncode == 0
    assert "revoked" in database.alpha("api", "token", "list").stdout
    assert _stored(database)[0][3] is True


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["create", "--role", "root", "--name", "x"], 2, "invalid choice: 'root'"),
        (["create", "--role", "viewer"], 2, "--name"),
        (["create", "--role", "viewer", "--name", "has space"], 1, "token name 'has space'"),
        (["revoke", "nobody"], 1, "no live token named 'nobody'"),
    ],
)
def test_bad_input_is_one_line_never_a_traceback(database, args, code, message) -> None:
    result = database.alpha("api", "token", *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_name_is_taken_once_even_after_revocation(database) -> None:
    assert (
        database.alpha("api", "token", "create", "--role", "viewer", "--name", "a").returncode == 0
    )
    assert database.alpha("api", "token", "revoke", "a").returncode == 0
    again = database.alpha("api", "token", "create", "--role", "viewer", "--name", "a")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert again.stdout == ""  # no token printed for a row that was not written


def test_only_the_app_role_reads_token_hashes_and_nobody_but_the_owner_writes(database) -> None:
    make_token(database, "t", "viewer")
    with database.connect(Role.APP) as conn:
        assert conn.execute("SELECT count(*) FROM trading.api_tokens").fetchone()[0] == 1
    with database.connect(Role.BACKUP, direct=True) as conn:  # pg_dump must see it
        assert conn.execute("SELECT count(*) FROM trading.api_tokens").fetchone()[0] == 1
    with database.connect(Role.APP) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE trading.api_tokens SET revoked_at = NULL")
    for role in (Role.READONLY, Role.LISTENER, Role.BOT, Role.SYNC):
        with database.connect(role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT token_hash FROM trading.api_tokens")


def test_run_api_help_and_a_bad_port_are_plain(database) -> None:
    shown = database.alpha("run", "api", "--help")
    assert shown.returncode == 0 and "127.0.0.1" in shown.stdout and "--port" in shown.stdout
    bad = database.alpha("run", "api", "--port", "99999")
    assert bad.returncode == 2 and "outside 1-65535" in bad.stderr
    assert "Traceback" not in bad.stderr
