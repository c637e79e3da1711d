"""A client that waits out a Redis outage (core/redis_client.py, ``wait_for_redis``),
against a Redis server of the test's own that it stops and starts again."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import redis as redis_lib
from pydantic import SecretStr

from core.config import RedisSettings
from core.redis_client import async_redis_client, redis_client, wait_for_redis
from devenv.ports import free_port
from devenv.redis_server import RedisServer


@pytest.fixture
def server(tmp_path: Any) -> Iterator[RedisServer]:
    server = RedisServer(run_dir=tmp_path / "redis", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _client(server: RedisServer, password: str | None = None) -> redis_lib.Redis:
    settings: Any = SimpleNamespace(redis=RedisSettings(
        host=server.host, port=server.port, db=0,
        password=SecretStr(password if password is not None else server.password or ""),
    ))  # fmt: skip
    return redis_client(settings)


def _in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(call())
        except Exception as exc:  # the assertion below shows it
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_commands_and_pipelines_sent_while_redis_is_down_wait_and_go_on(server, caplog):
    """Before: a command on a pooled connection that Redis's restart closed failed while
    redis-py reconnected it, outside any retry; the bot's decision died there."""
    caplog.set_level(logging.INFO, logger="core.redis_client")
    client = _client(server)
    wait_for_redis(client, "bot t", threading.Event())
    client.set("k", "1")  # a pooled connection, which the stop below closes
    server.stop()

    def pipeline() -> list[Any]:
        pipe = client.pipeline(transaction=False)
        pipe.incr("k")
        pipe.get("k")
        return pipe.execute()  # type: ignore[no-any-return]

    single, single_out = _in_thread(lambda: client.get("k"))
    piped, piped_out = _in_thread(pipeline)
    time.sleep(2.5)
    assert single.is_alive() and piped.is_alive()  # waiting, not failed

    server.start()
    single.join(10)
    piped.join(10)
    assert single_out in (["1"], ["2"])  # before or after the pipeline's INCR
    assert piped_out == [[2, "2"]]  # the INCR ran once
    said = [r.getMessage() for r in caplog.records if r.name == "core.redis_client"]
    assert said[0].startswith("bot t: Redis unreachable (") and said[0].endswith("waiting for it")
    assert said.count("bot t: Redis answers again; going on") == 1
    assert len(said) == 2  # one outage, one warning, however many calls waited


def test_a_wait_ends_when_asked_to_give_up(server):
    client = _client(server)
    give_up = threading.Event()
    wait_for_redis(client, "bot t", give_up)
    server.stop()
    thread, out = _in_thread(lambda: client.get("k"))
    time.sleep(1.5)
    assert thread.is_alive()
    give_up.set()
    thread.join(3)
    assert not thread.is_alive()
    assert isinstance(out[0], redis_lib.ConnectionError)


def test_a_wrong_password_fails_at_once(server):
    """Waiting would not mend it: the service stops with its one error line."""
    client = _client(server, password="wrong")
    wait_for_redis(client, "bot t", threading.Event())
    started = time.monotonic()
    with pytest.raises(redis_lib.AuthenticationError):
        client.ping()
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("password", ["wrong", None])
def test_bad_credentials_fail_at_once_without_the_wait_too(server, password):
    """Before: with no password, Redis answered the first command ``NOAUTH``, and
    redis-py's default retry took that for a broken connection: three more tries with
    growing pauses, so a service, the C2 or a CLI command missing ``REDIS_PASSWORD`` said
    so only after about 7 s. (A wrong password fails while connecting, at once.)"""
    settings: Any = SimpleNamespace(redis=RedisSettings(
        host=server.host, port=server.port, db=0,
        password=None if password is None else SecretStr(password),
    ))  # fmt: skip
    started = time.monotonic()
    with pytest.raises(redis_lib.AuthenticationError):
        redis_client(settings).get("k")
    assert time.monotonic() - started < 1

    async def get() -> None:
        aclient = async_redis_client(settings)
        try:
            await aclient.get("k")
        finally:
            await aclient.aclose()

    started = time.monotonic()
    with pytest.raises(redis_lib.AuthenticationError):
        asyncio.run(get())
    assert time.monotonic() - started < 1
