"""The Redis mirror of the position book: hashes and ``fills:{bot_id}`` entries.

Stream entries are appended by a server-side script (one call per stream per commit);
they must read exactly like the plain XADDs they replace, in ledger order, and keep
arriving when the server has lost the script (a Redis restart, ``SCRIPT FLUSH``).
"""

from __future__ import annotations

from core import redis_keys
from core.ids import AccountName, BotCode, BotId
from tests.core.test_positions import make_fill
from websocket_listener.positions import PositionBook, stream_entry
from websocket_listener.records import BotRow

BOT = BotId("bot_one")


def _book(services) -> PositionBook:
    book = PositionBook(services.redis)
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
