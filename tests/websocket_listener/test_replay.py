"""Replay of a recorded capture through the live write path (real PgBouncer, PostgreSQL, Redis)."""

from __future__ import annotations

import json
import random
import threading
import time
from decimal import Decimal
from pathlib import Path

from core import redis_keys
from core.redis_client import infra_client
from tests.websocket_listener.helpers import (
    SHARED,
    SOLO,
    assert_positions_match,
    execution,
    expected_qty,
    ledger,
    random_executions,
    register_bots,
    ws_message,
)


def _capture(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "capture.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_replay_writes_each_execution_once_with_duplicates_reordering_and_garbage(
    database, redis, tmp_path
):
    register_bots(database)
    start = int(time.time() * 1000) - 60_000
    items = random_executions(SHARED, 300, start_ms=start)
    # Messages of 1–5 executions, then shuffled, then a third of them sent twice.
    rnd = random.Random(3)
    messages, i = [], 0
    while i < len(items):
        n = rnd.randint(1, 5)
        messages.append(items[i : i + n])
        i += n
    rnd.shuffle(messages)
    lines = [ws_message(m) for m in messages] + [ws_message(m) for m in messages[::3]]
    unlinked = execution(None, side="Buy", qty="0.5", price="100", exec_time=start)
    funding = execution(SHARED[0], side="Sell", qty="0.01", price="0", exec_time=start + 5,
                        exec_type="Funding", fee="0.25")  # fmt: skip
    bad = dict(items[0], execId="bad-1", execQty=1.5)  # a JSON number: refused, never a float
    lines += [
        ws_message([unlinked]),
        ws_message([funding]),
        ws_message([bad]),
        json.dumps({"op": "pong"}),
        ws_message([{"symbol": "BTCUSDT"}], topic="wallet"),
    ]
    capture = _capture(tmp_path, lines)

    first = database.alpha("listener", "replay", str(capture), "--account", "main")
    assert first.returncode == 0, first.stderr
    assert "301 new fills" in first.stdout

    rows = ledger(database)
    bot_of = {item["execId"]: SHARED[k % 2].bot_id for k, item in enumerate(items)}
    assert {k: v[0] for k, v in rows.items() if k in bot_of} == bot_of
    assert rows[unlinked["execId"]][0] == "external"
    assert len(rows) == len(items) + 1
    with database.connect("readonly") as conn:
        assert conn.execute("SELECT bot_id, funding_fee FROM trading.funding").fetchall() == [
            ("alpha_one", Decimal("0.25"))
        ]
        sources = conn.execute("SELECT DISTINCT source FROM trading.fills").fetchall()
        assert sources == [("ws",)]
        reasons = [r[0] for r in conn.execute("SELECT reason FROM trading.fill_rejects")]
    assert len(reasons) == 2, reasons
    assert any("execQty" in r for r in reasons)
    assert_positions_match(database.stack, SHARED, expected_qty(items, bot_of))

    second = database.alpha("listener", "replay", str(capture), "--account", "main")
    assert second.returncode == 0, second.stderr
    assert "0 new fills" in second.stdout
    assert ledger(database) == rows


def test_replay_on_the_solo_account_binds_every_execution_to_its_bot(database, redis, tmp_path):
    register_bots(database)
    start = int(time.time() * 1000) - 60_000
    # Link ids of another bot, and none at all: the account serves one bot, so it is that bot's.
    items = random_executions(SHARED, 20, start_ms=start)
    items.append(execution(None, side="Sell", qty="0.1", price="100", exec_time=start + 50))
    capture = _capture(tmp_path, [ws_message([it]) for it in items])
    result = database.alpha("listener", "replay", str(capture), "--account", "solo")
    assert result.returncode == 0, result.stderr
    rows = ledger(database)
    assert {v[0] for v in rows.values()} == {SOLO.bot_id}
    assert {v[1] for v in rows.values()} == {"solo"}
    assert_positions_match(
        database.stack, (SOLO,), expected_qty(items, {it["execId"]: SOLO.bot_id for it in items})
    )


def test_replay_of_a_missing_file_is_one_line(database):
    result = database.alpha("listener", "replay", "/nonexistent.jsonl")
    assert result.returncode == 1
    assert result.stderr.strip() == "alpha: error: /nonexistent.jsonl: no such file"


def test_a_capture_with_a_line_that_is_not_json_or_not_utf8_changes_nothing(
    database, redis, tmp_path
):
    """Such a line used to become a reject (and a non-UTF-8 one aborted the replay half
    way, after writing what came before it)."""
    register_bots(database)
    items = random_executions(SHARED, 5, start_ms=int(time.time() * 1000) - 60_000)
    good = [ws_message([it]) for it in items]
    for bad, says in ((b"this is not json", "line 6: not JSON"),
                      (b"\xff\xfe binary", "line 6: not UTF-8"),
                      (b"[1, 2]", "line 6: not a JSON object")):  # fmt: skip
        capture = tmp_path / "capture.jsonl"
        capture.write_bytes(("\n".join(good) + "\n").encode() + bad + b"\n")
        result = database.alpha("listener", "replay", str(capture), "--account", "main")
        assert result.returncode == 1, result.stdout
        assert result.stderr.strip().startswith("alpha: error:") and says in result.stderr
        assert "Traceback" not in result.stderr
        assert ledger(database) == {}


def test_replay_refuses_while_a_listener_holds_the_lease(database, redis, tmp_path):
    """A listener that has not yet published its status still holds the lease."""
    register_bots(database)
    items = random_executions(SHARED, 5, start_ms=int(time.time() * 1000) - 60_000)
    capture = _capture(tmp_path, [ws_message(items)])
    infra = infra_client(database.settings)
    alive = threading.Event()
    alive.set()

    def keep() -> None:  # a live listener on another host
        while alive.is_set():
            infra.set(redis_keys.LISTENER_LEASE, "another-host:7:abc", px=2000)
            time.sleep(0.3)

    keeper = threading.Thread(target=keep, daemon=True)
    keeper.start()
    try:
        refused = database.alpha("listener", "replay", str(capture), "--account", "main")
    finally:
        alive.clear()
        keeper.join(5)
    assert refused.returncode == 73, refused.stderr
    assert refused.stderr.strip() == (
        "alpha: error: the listener is already running (another-host:7 holds its lease and"
        " keeps renewing it); stop that process first, or pass --force and run"
        " 'alpha positions rebuild' afterwards"
    )
    assert ledger(database) == {}

    # Once it is gone, replay takes the lease, writes, and gives the lease back.
    infra.delete(redis_keys.LISTENER_LEASE)
    done = database.alpha("listener", "replay", str(capture), "--account", "main")
    assert done.returncode == 0, done.stderr
    assert "5 new fills" in done.stdout
    assert infra.get(redis_keys.LISTENER_LEASE) is None


def test_a_replay_that_cannot_start_gives_the_lease_back(database, redis, tmp_path):
    register_bots(database)
    items = random_executions(SHARED, 2, start_ms=int(time.time() * 1000) - 60_000)
    capture = _capture(tmp_path, [ws_message(items)])
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    failed = database.alpha("listener", "replay", str(capture), "--account", "main",
                            env={"LISTENER_SPOOL_DIR": str(blocker / "spool")})  # fmt: skip
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        f"alpha: error: listener spool {blocker / 'spool'} (LISTENER_SPOOL_DIR): Not a directory"
    )
    # The next listener starts at once, not after the lease's 15 s.
    assert infra_client(database.settings).get(redis_keys.LISTENER_LEASE) is None
