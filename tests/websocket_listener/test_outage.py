"""Database outages and socket drops mid-stream, each ending with the exactly-once check.

The outage test runs on its own stack with a **private** PostgreSQL cluster (``initdb``
into a temporary directory, on a free port) plus its own PgBouncer and Redis, so
stopping PostgreSQL never touches the machine's server that other test sessions share.
While the paper exchange streams executions: PgBouncer stops (connections refused),
PostgreSQL stops, PgBouncer comes back with PostgreSQL still down (PgBouncer accepts,
the server is unreachable), then PostgreSQL comes back. The listener must spool to disk
throughout — checked by reading the spool's own files while it holds them — and at the
end every execution is in the ledger exactly once, the spool is empty, and the Redis
position equals the ledger's.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from core.config import AccountCredentials, BybitSettings, ListenerSettings
from core.ids import AccountName
from paper_exchange.testing import running_exchange
from tests.harness.services import Database, ServiceStack
from tests.websocket_listener.helpers import SHARED, ledger, redis_positions, register_bots
from websocket_listener import metrics
from websocket_listener.service import Listener

ACCOUNT = ("main", "main-key", "main-secret")


@pytest.fixture(scope="module")
def private_stack() -> Iterator[ServiceStack]:
    stack = ServiceStack.start(private_postgres=True)
    try:
        yield stack
    finally:
        stack.stop()


def _settings(database: Database, ex: Any, spool: Path) -> Any:
    name, key, secret = ACCOUNT
    return dataclasses.replace(
        database.settings,
        bybit=BybitSettings(env="paper", rest_url=ex.rest_url, ws_url=ex.ws_url),
        listener=ListenerSettings(spool_dir=spool, catchup_margin_seconds=60),
        accounts={
            AccountName(name): AccountCredentials(
                AccountName(name), SecretStr(key), SecretStr(secret)
            )
        },
    )


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class SpoolWatcher:
    """Reads the spool's segment files while they exist: which executions were spooled."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.exec_ids: set[str] = set()
        self.max_backlog = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SpoolWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.max_backlog = max(self.max_backlog, metrics.SPOOL_BACKLOG._value.get())
            for segment in self.directory.glob("*.jsonl"):
                try:
                    lines = segment.read_bytes().splitlines()
                except OSError:
                    continue  # replayed and deleted meanwhile
                for line in lines:
                    try:
                        envelope = json.loads(line)
                    except ValueError:
                        continue  # a line being appended right now
                    if envelope.get("topic") == "execution":
                        self.exec_ids.update(item["execId"] for item in envelope["items"])


def _exchange_ids(ex: Any) -> set[str]:
    return {row["execId"] for row in ex.control.dump("main")["executions"]}


def _assert_exactly_once_and_positions(database: Database, ex: Any, expected: int) -> None:
    produced = _exchange_ids(ex)
    assert len(produced) == expected
    rows = ledger(database)  # asserts no exec_id twice
    assert set(rows) == produced, f"missing {len(produced - set(rows))}"
    assert {v[0] for v in rows.values()} == {"alpha_one"}
    with database.connect("readonly") as conn:
        (net,) = conn.execute(
            "SELECT coalesce(sum(CASE side WHEN 'Buy' THEN exec_qty ELSE -exec_qty END), 0)"
            " FROM trading.fills"
        ).fetchone()
    _wait(
        lambda: redis_positions(database.stack, SHARED).get(("alpha_one", "BTCUSDT")) == net,
        timeout=15,
        what="the Redis position to equal the ledger's",
    )


@pytest.mark.slow
def test_pgbouncer_and_postgres_restarted_mid_stream(
    private_stack: ServiceStack, tmp_path: Path
) -> None:
    fills = 3000
    database = Database(private_stack.create_database(), private_stack)
    register_bots(database, SHARED)
    spool = tmp_path / "spool"
    with running_exchange(accounts=[ACCOUNT], seed=3) as ex:
        listener = Listener(_settings(database, ex, spool))
        stop = threading.Event()
        runner = threading.Thread(target=listener.run, args=(stop,), daemon=True)
        runner.start()
        try:
            _wait(lambda: all(s.connected for s in listener.streams.values()), 30, "socket")
            with SpoolWatcher(spool) as watcher:
                ex.control.post(
                    "/paper/synthetic", account="main", count=fills, rate=250, batch=10,
                    link_prefix="aa1-en-",
                )  # fmt: skip
                time.sleep(1.5)
                assert ledger(database), "nothing committed before the outage"
                private_stack.stop_pgbouncer()
                _wait(lambda: len(listener.pipeline.spool) > 0, 10, "fills spooled (no PgBouncer)")
                private_stack.stop_postgres()
                private_stack.restart_pgbouncer()
                spooled_before = len(listener.pipeline.spool)
                # PgBouncer is up, the server behind it is not: still spooling.
                _wait(
                    lambda: len(listener.pipeline.spool) > spooled_before + 50,
                    15,
                    "fills spooled (PgBouncer up, PostgreSQL down)",
                )
                assert not listener.pipeline.db_up
                private_stack.start_postgres()
                _wait(lambda: len(_exchange_ids(ex)) == fills, 60, "the stream to end")
                _wait(
                    lambda: set(ledger(database)) == _exchange_ids(ex),
                    60,
                    "every execution in the ledger",
                )
                assert listener.pipeline.flush(30)
            assert len(listener.pipeline.spool) == 0
            assert not list(spool.glob("*.jsonl")), "a replayed spool segment was kept"
            assert watcher.max_backlog > 0, "the spool backlog metric never moved"
            assert len(watcher.exec_ids) > 100, "the spool held too few fills to mean anything"
            rows = ledger(database)
            assert watcher.exec_ids <= set(rows), "a spooled fill never reached the ledger"
            assert listener.pipeline.db_up
            _assert_exactly_once_and_positions(database, ex, fills)
        finally:
            stop.set()
            runner.join(30)
            private_stack.drop_database(database.name)


@pytest.mark.slow
def test_private_socket_dropped_thirty_times_during_a_stream(
    database: Database, redis: Any, tmp_path: Path
) -> None:
    drops, per_drop = 30, 100
    register_bots(database, SHARED)
    with running_exchange(accounts=[ACCOUNT], seed=4) as ex:
        listener = Listener(_settings(database, ex, tmp_path / "spool"))
        # The watchdog backs off up to 30 s against a flapping server (by design); this
        # test is about what the listener loses, so it reconnects within a second.
        listener.stream_options = {"backoff_max": 1.0, "stable_after": 1.0}
        stop = threading.Event()
        runner = threading.Thread(target=listener.run, args=(stop,), daemon=True)
        runner.start()
        try:
            _wait(lambda: all(s.connected for s in listener.streams.values()), 30, "socket")

            # One burst of executions per drop; the socket closes while it is in flight.
            def live() -> bool:
                return all(s.connected for s in listener.streams.values())

            closed = 0
            deadline = time.monotonic() + 120
            for _ in range(drops):
                _wait(live, 30, "reconnect")
                ex.control.post(
                    "/paper/synthetic", account="main", count=per_drop, rate=1000, batch=5,
                    link_prefix="aa1-en-",
                )  # fmt: skip
                time.sleep(0.03)
                # Only a live, subscribed socket counts as a drop ("connected" may lag).
                while (
                    not (n := ex.control.post("/paper/faults/close-sockets", block_ms=50)["closed"])
                    and time.monotonic() < deadline
                ):
                    time.sleep(0.1)
                    _wait(live, 30, "reconnect")
                closed += n
            assert closed >= drops, f"only {closed} live sockets closed"
            fills = drops * per_drop
            _wait(lambda: len(_exchange_ids(ex)) == fills, 60, "the stream to end")
            deadline = time.monotonic() + 90
            while (missing := _exchange_ids(ex) - set(ledger(database))) and (
                time.monotonic() < deadline
            ):
                time.sleep(0.5)
            assert not missing, (
                f"{len(missing)} executions never reached the ledger; queue "
                f"{listener.pipeline.queue.qsize()}, catch-up errors "
                f"{metrics.CATCHUP_ERRORS.labels('main')._value.get()}, catch-up reads "
                f"{metrics.CATCHUP_FILLS.labels('main')._value.get()}"
            )
            assert listener.pipeline.flush(30)
            with database.connect("readonly") as conn:
                sources = dict(
                    conn.execute("SELECT source, count(*) FROM trading.fills GROUP BY source")
                )
            assert sources.get("rest", 0) > 0, "no fill was recovered by catch-up"
            _assert_exactly_once_and_positions(database, ex, fills)
        finally:
            stop.set()
            runner.join(30)
