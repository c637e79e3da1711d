"""The Redis mirror of the position book: hashes and ``fills:{bot_id}`` entries.

Stream entries are appended by a server-side script (one call per stream per commit);
they must read exactly like the plain XADDs they replace, in ledger order, and keep
arriving when the server has lost the script (a Redis restart, ``SCRIPT FLUSH``). In the
listener the writes run on their own thread: in commit order, complete after ``drain``,
and a Redis that is down marks the book dirty (the listener then rebuilds) without
stopping the mirror.
"""

from __future__ import annotations

import threading

import redis as redis_lib

from core import redis_keys
from core.ids import AccountName, BotCode, BotId
from devenv.ports import free_port
from tests.core.test_positions import make_fill
from websocket_listener.positions import PositionBook
from websocket_listener.records import BotRow
from websocket_listener.redis_mirror import stream_entry

BOT = BotId("bot_one")


def _book(services, *, background: bool = False, redis_for_db=None) -> PositionBook:
    book = PositionBook(redis_for_db or services.redis, background_redis=background)
    book.set_bots([BotRow(BOT, BotCode("bo1"), AccountName("main"), "active", 4)])
    return book


def _entries(services) -> list[dict[str, str]]:
    client = services.redis(4)
    return [fields for _, fields in client.xrange(redis_keys.fills_stream(BOT))]


def test_entries_and_hash_after_commits_even_when_redis_lost_the_script(services, redis):
    book = _book(services)
    client = services.redis(4)
    client.flushdb()
    first = [make_fill("Buy", "0.002", "60000", "0.1", n=n) for n in (2, 1, 3)]
    book.apply(None, first)  # conn is only for a late fill's re-fold
    client.script_flush()
    second = [make_fill("Sell", "0.001", "61000", "0.05", n=n) for n in (4, 5)]
    book.apply(None, second)

    ordered = sorted(first, key=lambda f: f.ledger_key) + second
    assert _entries(services) == [stream_entry(f) for f in ordered]
    assert not book.redis_dirty
    position = client.hgetall(redis_keys.position(BOT, make_fill("Buy", "1", "1").symbol))
    assert position["qty"] == "0.004"  # 3 x 0.002 bought, 2 x 0.001 sold
    assert position["avg_price"] == "60000"
    assert position["last_fill"] == second[-1].exec_id


def test_a_fill_of_a_bot_without_redis_db_is_not_mirrored(services, redis):
    book = _book(services)
    services.redis(4).flushdb()
    outsider = make_fill("Buy", "1", "100", n=9)
    outsider = type(outsider).of(outsider, BotId("external"))
    book.apply(None, [outsider])
    assert _entries(services) == []
    assert not book.redis_dirty


def test_in_the_background_commits_land_in_order_and_drain_waits_for_them(services, redis):
    book = _book(services, background=True)
    client = services.redis(4)
    client.flushdb()
    done: list[int] = []
    fills = [make_fill("Buy" if n % 3 else "Sell", "0.001", str(60000 + n), n=n) for n in range(60)]
    for k in range(0, 60, 6):  # ten commits, queued faster than they are sent
        book.apply(None, fills[k : k + 6], after=lambda k=k: done.append(k))
    assert book.drain(10)
    assert done == list(range(0, 60, 6))  # each commit's callback, in commit order
    assert _entries(services) == [stream_entry(f) for f in fills]
    position = client.hgetall(redis_keys.position(BOT, fills[0].symbol))
    assert position["last_fill"] == fills[-1].exec_id
    assert not book.redis_dirty


def test_in_the_background_a_redis_outage_marks_the_book_dirty_and_the_mirror_goes_on(
    services, redis
):
    dead = redis_lib.Redis(port=free_port(), socket_connect_timeout=0.5)  # nothing listens
    target = {"client": dead}
    book = _book(services, background=True, redis_for_db=lambda _db: target["client"])
    services.redis(4).flushdb()
    called = threading.Event()
    book.apply(None, [make_fill("Buy", "0.001", "60000", n=1)], after=called.set)
    assert book.drain(10) and called.is_set()
    assert book.redis_dirty  # the listener rebuilds Redis from the ledger when it is back

    target["client"] = services.redis(4)
    book.redis_dirty = False
    book.apply(None, [make_fill("Buy", "0.001", "60000", n=2)])
    assert book.drain(10)
    assert [e["exec_id"] for e in _entries(services)] == ["e000002"]
    assert not book.redis_dirty
