"""Two real listeners across a partition: the old one loses Redis, a new one takes over.

The case a cluster engine makes: the running listener's node is cut from Redis (here a
forwarder that drops every packet, ``tests/harness/partition.py``) but still reaches
PostgreSQL, so by design it goes on writing the ledger. Its lease lapses; a new
``alpha run listener`` takes it and then the ledger (``trading.ledger_writer``). The old
one's next batch is refused and it exits 74. Meanwhile the paper exchange streams
executions to both listeners' sockets.

At the end the ledger holds every execution exactly once, and what the bots read in
Redis is whole: the new listener's position equals the ledger's net quantity and the
bot's fill stream carries every execution, including those the old listener committed
while it could not reach Redis.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from core import redis_keys
from core.config import ListenerSettings
from core.ids import BotId
from core.redis_client import infra_client
from devenv.ports import wait_until
from paper_exchange.testing import running_exchange
from tests.harness.partition import Partition
from tests.websocket_listener.helpers import (
    SHARED,
    execution,
    ledger,
    listener_env,
    redis_positions,
    register_bots,
    spawn_listener,
)
from trade_sync.handover import hand_over
from websocket_listener.group_reader import BLOCK_MS, READ_TIMEOUT_SECONDS
from websocket_listener.service import Listener

FILLS = 2400
RATE = 120  # per second: the stream lasts 20 s, through the cut and the takeover


def _holder(database: Any) -> str:
    with database.connect("readonly") as conn:
        row = conn.execute("SELECT holder FROM trading.ledger_writer").fetchone()
    return str(row[0]) if row else ""


@pytest.mark.slow
def test_a_listener_cut_from_redis_is_fenced_out_by_the_new_one(database, redis, tmp_path):
    register_bots(database, SHARED)
    bot = SHARED[0]
    infra = infra_client(database.settings)
    base = database.env()
    partition = Partition(base["REDIS_HOST"], int(base["REDIS_PORT"]))
    procs: list[subprocess.Popen[str]] = []
    with running_exchange(accounts=[("main", "k-main", "s-main")], seed=11) as ex:
        new_env = listener_env(database, tmp_path / "new-spool", ex)
        old_env = listener_env(database, tmp_path / "old-spool", ex)
        old_env |= {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(partition.port)}
        old_log = open(tmp_path / "old.log", "w")  # noqa: SIM115
        new_log = open(tmp_path / "new.log", "w")  # noqa: SIM115
        try:
            old = spawn_listener(old_env, tmp_path, old_log)
            procs.append(old)
            assert wait_until(lambda: f":{old.pid}:" in _holder(database) or old.poll() is not None,
                              60)  # fmt: skip
            assert old.poll() is None, (tmp_path / "old.log").read_text()
            time.sleep(2)  # subscribed and caught up
            ex.control.post("/paper/synthetic", account="main", count=FILLS, rate=RATE, batch=4,
                            link_prefix=f"{bot.code}-en-")  # fmt: skip
            assert wait_until(lambda: len(ledger(database)) >= 200, 30)
            assert wait_until(lambda: redis_positions(database.stack, SHARED), 10)  # mirrored

            partition.cut()
            cut_at = len(ledger(database))
            # Cut from Redis, the old listener still writes the ledger (by design).
            assert wait_until(lambda: len(ledger(database)) >= cut_at + 100, 60)
            # Its lease lapses (it cannot renew it); then the new one starts.
            assert wait_until(lambda: infra.get(redis_keys.LISTENER_LEASE) is None, 30)
            new = spawn_listener(new_env, tmp_path, new_log)
            procs.append(new)
            assert wait_until(lambda: f":{new.pid}:" in _holder(database) or new.poll() is not None,
                              60)  # fmt: skip
            assert new.poll() is None, (tmp_path / "new.log").read_text()

            # The old one's next batch is refused: it stops, with one line, within
            # seconds. (Before, about 11 s: its status writes, a catch-up waiting on its
            # dead writer and its readers each waited out the partition in turn.)
            assert wait_until(lambda: old.poll() is not None, 120, interval=0.02)
            exited_at = time.time()
            old_out = (tmp_path / "old.log").read_text()
            assert old.returncode == 74, old_out
            assert f"another listener ({_holder(database)}) took the ledger over" in old_out
            assert "Traceback" not in old_out
            fenced = next(line for line in old_out.splitlines() if "took the ledger over" in line)
            fenced_at = datetime.strptime(fenced[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
            assert exited_at - fenced_at < 4, f"exited {exited_at - fenced_at:.1f} s after"

            # Every execution once; the new listener's Redis is whole.
            produced: set[str] = set()

            def complete() -> bool:
                nonlocal produced
                produced = {r["execId"] for r in ex.control.dump("main")["executions"]}
                return len(produced) == FILLS and set(ledger(database)) == produced

            assert wait_until(complete, 120, interval=0.5), (
                f"{len(produced - set(ledger(database)))} executions missing"
            )
            with database.connect("readonly") as conn:
                (net,) = conn.execute(
                    "SELECT sum(CASE side WHEN 'Buy' THEN exec_qty ELSE -exec_qty END)"
                    " FROM trading.fills WHERE bot_id = %s", (bot.bot_id,),
                ).fetchone()  # fmt: skip

            def redis_whole() -> bool:
                held = redis_positions(database.stack, SHARED).get((bot.bot_id, "BTCUSDT"))
                client = database.stack.redis(redis_keys.bot_db(bot.redis_db))
                streamed = {
                    f["exec_id"]
                    for _, f in client.xrange(redis_keys.fills_stream(BotId(bot.bot_id)))
                }
                return held == net and produced <= streamed

            assert wait_until(redis_whole, 30, interval=0.5)
            assert isinstance(net, Decimal)
            assert new.poll() is None, (tmp_path / "new.log").read_text()
        finally:
            for proc in procs:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
            partition.close()
            old_log.close()
            new_log.close()


def test_the_stream_readers_give_up_on_a_redis_that_drops_packets(database, redis, tmp_path):
    """The hand-over and claim readers wait on Redis with a read timeout: a read sent
    into a partition fails and is retried, rather than waiting as long as TCP does
    (hand-overs would stop flowing until then, and a listener that must stop, fenced
    out of the ledger, would wait for these threads)."""
    partition = Partition(database.settings.redis.host, database.settings.redis.port)
    cut_off = database.settings.redis.model_copy(update={"host": "127.0.0.1",
                                                         "port": partition.port})  # fmt: skip
    settings = dataclasses.replace(
        database.settings,
        redis=cut_off,
        listener=ListenerSettings(spool_dir=tmp_path / "spool"),
    )
    listener = Listener(settings, application_name="test-readers-partition")
    try:
        listener.start_sources(accounts=[])
        item = execution(SHARED[0], side="Buy", qty="1", price="100", exec_time=1_700_000_000_000)
        hand_over(infra_client(database.settings), "main", "execution", [item])
        # Read through the forwarder (nothing writes: the writer is not started).
        assert wait_until(lambda: listener.pipeline.queue.qsize() >= 1, 15)
        partition.cut()
        time.sleep(1.5)  # both readers now wait for replies that will never come
        started = time.monotonic()
        listener.handover.request_stop()  # as Listener.stop does (its writer is not started)
        listener.claims.request_stop()
        listener.handover.stop()
        listener.claims.stop()
        # Stopping does not wait for a read sent into the partition ...
        assert time.monotonic() - started < BLOCK_MS / 1000 + 2
        # ... which fails at its read timeout: the threads end.
        readers = [listener.handover._thread, listener.claims._thread]
        ended = wait_until(lambda: not any(t.is_alive() for t in readers), READ_TIMEOUT_SECONDS + 2)
        assert ended, "a reader still waits on the partition"
    finally:
        partition.close()
