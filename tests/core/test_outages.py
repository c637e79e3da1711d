"""Where the line between "a service is away" and "the code is wrong" falls, drawn with
the exceptions the real clients raise."""

from __future__ import annotations

import logging

import psycopg
import pytest
import redis as redis_lib

from core.outages import OutageNotice, unreachable
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


def test_an_outage_notice_says_each_outage_once_and_its_end(database, caplog) -> None:
    log = logging.getLogger("alpha.test.outages")
    notice = OutageNotice(log, "cannot poll", resumed="polling", retry="; again every 1s")
    refused_redis = redis_lib.Redis(port=free_port(), retry=None, socket_connect_timeout=1)
    refused_db = _raised(lambda: psycopg.connect(port=free_port(), connect_timeout=1))
    with caplog.at_level(logging.INFO, logger=log.name):
        for _ in range(3):
            assert notice.failed(_raised(refused_redis.ping)) == "Redis"
        assert notice.failed(refused_db, quiet=True) == "the database"  # another line said it
        assert notice.failed(ValueError("a bug")) is None  # the caller keeps its traceback
        assert notice.away == {"Redis", "the database"}
        notice.answered("Redis")
        notice.answered("Redis")  # said once
        notice.answered()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == log.name]
    assert said == [
        ("WARNING", "cannot poll: Redis unreachable (ConnectionError); again every 1s"),
        ("INFO", "Redis answers again; polling"),
        ("INFO", "the database answers again; polling"),
    ]
    assert notice.away == set()
