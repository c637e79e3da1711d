"""What the ledger lock adds to a fill's transaction (``holder_rule.LEDGER_LOCK``).

    .venv/bin/python bench/ledger_lock.py [--rounds 4000] [--fills 2000]

Every transaction that writes fills or funding first takes one transaction-level
advisory lock, so two writers cannot decide the holder rule from each other's
uncommitted rows. Uncontended it is one more round trip. Measured here, through
PgBouncer as the listener role on an autocommit connection, as the listener writes:

- the lock's cost: ``BEGIN; <lock>; SELECT 1; COMMIT`` against ``BEGIN; SELECT 1;
  COMMIT``, alternating, ``--rounds`` of each;
- the raw limit of the same path: one ``SELECT 1`` round trip;
- for scale, the whole one-fill transaction as the listener writes it (``write_batch``,
  lock included), ``--fills`` of them one after another (``bench/fill_pipeline.py``'s
  (c) raw limit).

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

from fill_pipeline import BOT, CODE, _pct, _register, one_fill_commits  # bench/fill_pipeline.py

from tests.harness.services import ServiceStack
from tests.websocket_listener.helpers import TestBot, random_executions
from websocket_listener.holder_rule import LEDGER_LOCK


def _round_trips(conn: Any, rounds: int) -> tuple[list[float], list[float], list[float]]:
    """Milliseconds of each: with the lock, without it, and one bare ``SELECT 1``."""
    locked: list[float] = []
    bare: list[float] = []
    one: list[float] = []
    for i in range(2 * rounds):
        started = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            if i % 2 == 0:
                cur.execute(LEDGER_LOCK)
            cur.execute("SELECT 1")
        (locked if i % 2 == 0 else bare).append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        conn.execute("SELECT 1")
        one.append(1000 * (time.perf_counter() - started))
    return locked, bare, one


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4000, help="transactions of each kind")
    parser.add_argument("--fills", type=int, default=2000, help="one-fill transactions")
    args = parser.parse_args()
    stack = ServiceStack.start()
    try:
        dbname = stack.create_database()
        _register(stack, dbname, 1)
        with stack.connect(dbname, "listener") as conn:
            conn.autocommit = True  # as the listener's (websocket_listener/service.py)
            locked, bare, one = _round_trips(conn, args.rounds)
        stack.drop_database(dbname)
        bot = TestBot(BOT, CODE, "main", 1)
        start_ms = int(time.time() * 1000) - 3_600_000
        items = random_executions((bot,), args.fills, start_ms=start_ms)
        fills = one_fill_commits(stack, items, args.fills)
    finally:
        stack.stop()

    def line(name: str, values: list[float]) -> str:
        return f"  {name:<44} p50 {_pct(values, 0.5):6.3f}  p99 {_pct(values, 0.99):6.3f} ms"

    print(f"through PgBouncer, listener role, {args.rounds} of each, alternating:")
    print(line("BEGIN; ledger lock; SELECT 1; COMMIT", locked))
    print(line("BEGIN; SELECT 1; COMMIT", bare))
    print(line("raw limit: SELECT 1 (one round trip)", one))
    lock_ms = statistics.median(locked) - statistics.median(bare)
    print(f"  the lock's cost (difference of medians)      {lock_ms:6.3f} ms")
    print(f"one-fill transactions as the listener writes them, {args.fills}, lock included:")
    print(line("write_batch (BEGIN, lock, INSERT, holder rule, COMMIT)", fills))
    share = 100 * lock_ms / statistics.median(fills)
    print(f"  the lock is {share:.1f} % of a one-fill transaction's median")
    print("reproduce: .venv/bin/python bench/ledger_lock.py"
          f" --rounds {args.rounds} --fills {args.fills}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
