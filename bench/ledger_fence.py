"""What the ledger's turn adds to a fill's transaction (``ledger_fence.turn``).

    .venv/bin/python bench/ledger_fence.py [--fills 2000]

Every transaction that writes fills or funding first updates the ledger's writer row
``WHERE holder = <its token>`` (migration 0023): two writers' batches take turns, and a
listener the ledger was taken from writes nothing. Uncontended it is one row update
in a transaction that writes anyway; it travels with ``BEGIN``, so it adds no round
trip. Measured here, through
PgBouncer as the listener role on an autocommit connection, exactly as the listener
writes (``write_batch``), in ledger order so each one appends:

- ``--fills`` one-fill transactions with the turn and as many without it (for those the
  bench gives the writer a plain ``conn.transaction()``, as before migration 0023: a
  ``BEGIN`` round trip and no turn), alternating, so both meet the same moments of the
  machine;
- the raw limit of the same path: one ``SELECT 1`` round trip, between them.

Starts its own roles/database, PgBouncer and Redis (the test harness) on the machine's
PostgreSQL; nothing shared is modified.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.harness

from fill_pipeline import BOT, CODE, _pct, _register  # bench/fill_pipeline.py

from tests.harness.services import ServiceStack
from tests.websocket_listener.helpers import TestBot, random_executions
from websocket_listener import writer
from websocket_listener.envelope import Envelope
from websocket_listener.ledger_fence import take, turn_taken
from websocket_listener.records import Recorder

HOLDER = "bench:1:fence"


def _no_turn(conn: Any, holder: str | None) -> Any:
    """The writer's transaction without its turn: what it was before migration 0023."""
    return conn.transaction()


def _measure(conn: Any, fills: int) -> tuple[list[float], list[float], list[float]]:
    """Milliseconds of each one-fill transaction with the turn, without it, and of one
    bare ``SELECT 1`` after each."""
    bot = TestBot(BOT, CODE, "main", 1)
    items = random_executions((bot,), 2 * fills, start_ms=int(time.time() * 1000) - 3_600_000)
    recorder = Recorder()
    batches = [
        recorder.to_batch(conn, [Envelope.from_ws("main", {"topic": "execution", "data": [it]})])
        for it in items
    ]  # parsed before timing; random_executions gives them in ledger order
    take(conn, HOLDER)
    with_turn: list[float] = []
    without: list[float] = []
    one: list[float] = []
    for i, batch in enumerate(batches):
        writer.turn_taken = turn_taken if i % 2 == 0 else _no_turn  # type: ignore[assignment]
        started = time.perf_counter()
        writer.write_batch(conn, batch, holder=HOLDER)
        (with_turn if i % 2 == 0 else without).append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        conn.execute("SELECT 1")
        one.append(1000 * (time.perf_counter() - started))
    writer.turn_taken = turn_taken
    return with_turn, without, one


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=2000, help="transactions of each kind")
    args = parser.parse_args()
    stack = ServiceStack.start()
    try:
        dbname = stack.create_database()
        _register(stack, dbname, 1)
        with stack.connect(dbname, "listener") as conn:
            conn.autocommit = True  # as the listener's (websocket_listener/service.py)
            with_turn, without, one = _measure(conn, args.fills)
        stack.drop_database(dbname)
    finally:
        stack.stop()

    def line(name: str, values: list[float]) -> str:
        return f"  {name:<40} p50 {_pct(values, 0.5):6.3f}  p99 {_pct(values, 0.99):6.3f} ms"

    print(f"one-fill transactions (write_batch), {args.fills} of each, alternating:")
    print(line("with the turn (BEGIN+turn, INSERT, ...)", with_turn))
    print(line("without it (BEGIN, INSERT, ...)", without))
    print(line("raw limit: SELECT 1 (one round trip)", one))
    cost = statistics.median(with_turn) - statistics.median(without)
    share = 100 * cost / statistics.median(without)
    print(f"  the turn's cost: {cost:.3f} ms at the median, {share:.1f} % of a transaction")
    print(f"reproduce: .venv/bin/python bench/ledger_fence.py --fills {args.fills}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
