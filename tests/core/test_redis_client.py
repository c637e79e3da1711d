"""core.redis_client's consumer-group helpers against the real Redis: creating a group
again keeps its place (a restart must never re-read or skip entries)."""

from __future__ import annotations

import asyncio

import pytest
import redis as redis_lib
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import ResponseError

from core.redis_client import ensure_group, ensure_group_async


def test_a_group_created_again_keeps_its_place(redis: redis_lib.Redis) -> None:
    redis.xadd("s", {"n": "1"})
    ensure_group(redis, "s", "g", start="0")
    [(_, entries)] = redis.xreadgroup("g", "c", {"s": ">"})  # reads what was there
    redis.xack("s", "g", *[entry_id for entry_id, _ in entries])
    ensure_group(redis, "s", "g", start="0")  # a restart: BUSYGROUP, nothing reset
    assert redis.xreadgroup("g", "c", {"s": ">"}) == []
    ensure_group(redis, "t", "g", start="$")  # no stream yet: made, empty
    assert redis.xlen("t") == 0


def test_other_errors_are_not_swallowed(redis: redis_lib.Redis) -> None:
    redis.set("plain", "x")
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        ensure_group(redis, "plain", "g", start="0")


def test_the_async_twin_keeps_the_place_too(redis: redis_lib.Redis) -> None:
    # An asyncio client on the fixture's own connection settings (address, credentials).
    kwargs = dict(redis.connection_pool.connection_kwargs)

    async def twice() -> None:
        client = AsyncRedis(**kwargs)
        try:
            await ensure_group_async(client, "a", "g", start="$")
            await ensure_group_async(client, "a", "g", start="$")
        finally:
            await client.aclose()

    asyncio.run(twice())
    assert [g["name"] for g in redis.xinfo_groups("a")] == ["g"]
