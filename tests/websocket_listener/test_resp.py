"""The listener's RESP packer: byte-identical to redis-py's, and understood by Redis."""

from __future__ import annotations

import pytest
from redis._parsers.encoders import Encoder
from redis.connection import PythonRespSerializer
from redis.exceptions import DataError

from websocket_listener.resp import RespPacker, use_fast_packer

COMMANDS = [
    ("XADD", "fills:bot", "MAXLEN", "~", 100000, "*", "exec_id", "é€-1", "qty", "0.001"),
    ("HSET", b"position:bot:BTCUSDT", "qty", -3, "avg", 1.5, "raw", b"\x00\xff"),
    ("CLIENT SETNAME", "listener"),
    (b"CONFIG GET", "maxmemory"),
    ("SET", "k", memoryview(b"view")),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_same_bytes_as_redis_py(command):
    reference = PythonRespSerializer(6000, Encoder("utf-8", "strict", False).encode)
    assert b"".join(RespPacker().pack(*command)) == b"".join(reference.pack(*command))


@pytest.mark.parametrize("value", [True, None, object()])
def test_refuses_what_redis_py_refuses(value):
    with pytest.raises(DataError):
        RespPacker().pack("SET", "k", value)


def test_round_trip_through_redis(services, redis):
    client = use_fast_packer(services.redis(4))
    entry = {"exec_id": "é€-1", "qty": "0.001", "n": "7"}
    entry_id = client.xadd("fills:bot", entry, maxlen=100, approximate=True)
    client.hset("position:bot:BTCUSDT", mapping={"qty": "-0.5", "avg_price": "61000.1"})
    assert client.xrange("fills:bot") == [(entry_id, entry)]
    assert client.hgetall("position:bot:BTCUSDT") == {"qty": "-0.5", "avg_price": "61000.1"}
    assert client.pipeline(transaction=False).incr("n").incr("n").execute() == [1, 2]
    assert isinstance(client.connection_pool.connection_kwargs["command_packer"], RespPacker)
