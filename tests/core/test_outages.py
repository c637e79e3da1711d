"""Where the line between "a service is away" and "the code is wrong" falls, drawn with
the exceptions the real clients raise."""

from __future__ import annotations

import psycopg
import pytest
import redis as redis_lib

from core.outages import unreachable
from devenv.ports import free_port


def _raised(call) -> BaseException:
    with pytest.raises(Exception) as caught:
        call()
    return caught.value


def test_a_refused_connection_is_the_service_away(database) -> None:
    nobody = free_port()
    refused_redis = redis_lib.Redis(port=nobody, retry=None, socket_connect_timeout=1)
    assert unreachable(_raised(refused_redis.ping)) == "Redis"
    assert unreachable(_raised(lambda: psycopg.connect(port=nobody, connect_timeout=1))) == (
        "the database"
    )


def test_a_closed_session_is_the_database_away(database) -> None:
    """What a PostgreSQL restart does to a session: ``AdminShutdown``."""
    with (
        database.connect("owner", direct=True) as victim,
        database.connect("owner", direct=True) as admin,
    ):
        pid = victim.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert unreachable(_raised(lambda: victim.execute("SELECT 1"))) == "the database"


def test_a_refused_command_or_query_is_not_an_outage(database, redis) -> None:
    redis.set("alpha:test:a-string", "x")
    assert unreachable(_raised(lambda: redis.lpush("alpha:test:a-string", "y"))) is None
    with database.connect("owner", direct=True) as conn:
        assert unreachable(_raised(lambda: conn.execute("SELECT 1/0"))) is None
    assert unreachable(ValueError("a bug")) is None
