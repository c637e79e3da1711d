"""Analytics: how fast ``analytics.bot_daily_pnl`` answers over N fills, and what the fold
trigger costs the listener's write path.

Starts its own PostgreSQL roles, scratch database and PgBouncer (the test harness's
``ServiceStack``, on the machine's PostgreSQL; nothing shared is touched), migrated to
``--revision`` (default head; ``--revision 0002`` measures the full-day re-fold trigger
that 0003 replaced). Then:

* Loading: the owner disables the ledger's triggers *in this scratch database only*
  (``ALTER TABLE … DISABLE TRIGGER USER``: the single-writer guard and the analytics
  triggers), inserts N fills with one ``INSERT … SELECT generate_series`` — 8 bots × 5
  symbols over ``--days`` (365), random sides and sizes, so positions flip and partially close —
  re-enables them and runs ``analytics.repair(true)``: the same fold the trigger runs,
  once over everything (the result is identical to inserting as the listener).
* Read side, as ``alpha_readonly``, warm, median of 7: the whole ``bot_daily_pnl``, one
  bot's rows, ``bot_positions``.
* Write side, as the listener role **through PgBouncer**: ``--batches`` transactions,
  each one ``INSERT … SELECT … FROM unnest(arrays) ON CONFLICT DO NOTHING RETURNING``
  of ``--batch`` new fills continuing the ledger (in-order appends over all 40 pairs, as
  the listener's group commit writes them), timed from execute to commit; then the same
  with only the analytics INSERT trigger disabled (the single-writer guard stays on), so
  the difference is what the fold costs. Median and p90 per batch.

Everything is dropped at the end unless ``--keep``.

    .venv/bin/python bench/analytics.py --fills 10000000
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.harness

from core.config import Role
from database import bootstrap
from tests.harness.services import ServiceStack

BOTS = 8
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)

LOAD = """
INSERT INTO trading.fills (account, exec_id, bot_id, symbol, side, exec_price, exec_qty,
                           exec_value, exec_fee, exec_time, seq, source, raw)
SELECT 'main', 'b' || g, 'bench_' || mod(g, %(bots)s), sym, side, price, qty,
       price * qty, round(price * qty * 0.00055, 8),
       timestamptz '2025-01-01 00:00:00+00' + (g::bigint * %(step)s) * interval '1 millisecond',
       g, 'ws', '{}'
  FROM generate_series(1, %(n)s) AS g,
       LATERAL (SELECT (ARRAY%(symbols)s)[1 + mod(g / %(bots)s, %(nsym)s)] AS sym,
                       CASE WHEN random() < 0.5 THEN 'Buy' ELSE 'Sell' END AS side,
                       round((100 + 20 * random())::numeric, 2) AS price,
                       round((0.001 + random())::numeric, 3) AS qty) x
"""

# The listener's shape: one INSERT of the whole batch from arrays, duplicates ignored.
INSERT = """
INSERT INTO trading.fills (account, exec_id, bot_id, symbol, side, exec_price, exec_qty,
                           exec_value, exec_fee, exec_time, seq, source, raw)
SELECT 'main', u.exec_id, u.bot_id, u.symbol, u.side, u.price, u.qty, u.value, u.fee,
       u.exec_time, u.seq, 'ws', '{}'
  FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::numeric[], %s::numeric[],
              %s::numeric[], %s::numeric[], %s::timestamptz[], %s::bigint[])
       AS u(exec_id, bot_id, symbol, side, price, qty, value, fee, exec_time, seq)
    ON CONFLICT (exchange, exec_id, bot_id) DO NOTHING RETURNING exec_id
"""


def timed(conn: Any, query: str, params: tuple[Any, ...] = (), runs: int = 7) -> tuple[float, int]:
    samples: list[float] = []
    rows = 0
    for _ in range(runs):
        start = time.perf_counter()
        rows = len(conn.execute(query, params).fetchall())
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), rows


def batch_params(first: int, size: int, step_ms: int, rng: random.Random) -> tuple[list[Any], ...]:
    """``size`` fills numbered from ``first``, laid out like LOAD (bot by g, symbol by g/8)."""
    cols: tuple[list[Any], ...] = tuple([] for _ in range(10))
    for g in range(first, first + size):
        price = Decimal(rng.randint(10000, 12000)) / 100
        qty = Decimal(rng.randint(1, 1001)) / 1000
        row = (
            f"b{g}", f"bench_{g % BOTS}", SYMBOLS[(g // BOTS) % len(SYMBOLS)],
            rng.choice(("Buy", "Sell")), price, qty, price * qty,
            (price * qty * Decimal("0.00055")).quantize(Decimal("1e-8")),
            EPOCH + timedelta(milliseconds=g * step_ms), g,
        )  # fmt: skip
        for col, value in zip(cols, row, strict=True):
            col.append(value)
    return cols


def write_batches(
    stack: ServiceStack, name: str, first: int, args: argparse.Namespace, step_ms: int
) -> list[float]:
    """Per-batch milliseconds, execute to commit, as the listener through PgBouncer."""
    rng = random.Random(first)
    batches = [
        batch_params(first + k * args.batch, args.batch, step_ms, rng) for k in range(args.batches)
    ]
    samples: list[float] = []
    with stack.connect(name, Role.LISTENER) as conn:  # PgBouncer, transaction mode
        conn.execute("SELECT 1").fetchall()
        conn.commit()
        for params in batches:
            start = time.perf_counter()
            inserted = len(conn.execute(INSERT, params).fetchall())
            conn.commit()
            samples.append((time.perf_counter() - start) * 1000)
            assert inserted == args.batch, inserted
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"median {statistics.median(samples):.1f} ms, p90 {p90:.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=365, help="days the fills span")
    parser.add_argument("--revision", default="head", help="migrate the scratch db to this")
    parser.add_argument("--batch", type=int, default=500, help="fills per listener INSERT")
    parser.add_argument("--batches", type=int, default=30, help="listener INSERTs timed")
    parser.add_argument("--keep", action="store_true", help="keep the database and roles")
    args = parser.parse_args()

    stack = ServiceStack.start()
    name = stack.create_database()
    try:
        if args.revision != "head":
            bootstrap.downgrade(stack.settings(name), args.revision, dbname=name)
        print(f"database {name} at revision {args.revision}, PgBouncer :{stack.pgbouncer.port}")
        step = args.days * 86_400_000 // args.fills
        with stack.connect(name, Role.OWNER, direct=True, autocommit=True) as conn:
            for i in range(BOTS):
                conn.execute(
                    "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type,"
                    " strategy_name, mode) VALUES (%s, %s, %s, 'bench', 'bench', 'paper')",
                    (f"bench_{i}", f"bn{i}", f"bench {i}"),
                )
            t = time.perf_counter()
            conn.execute("ALTER TABLE trading.fills DISABLE TRIGGER USER")
            symbols = "[" + ", ".join(f"'{s}'" for s in SYMBOLS) + "]"
            query = LOAD.replace("%(symbols)s", symbols)
            conn.execute(query, {"bots": BOTS, "nsym": len(SYMBOLS), "n": args.fills, "step": step})
            conn.execute("ALTER TABLE trading.fills ENABLE TRIGGER USER")
            load_s = time.perf_counter() - t
            print(f"loaded {args.fills:,} fills in {load_s:.1f} s")
            t = time.perf_counter()
            conn.execute("SELECT analytics.repair(true)")
            fold_s = time.perf_counter() - t
            print(f"folded them (analytics.repair) in {fold_s:.1f} s")
            conn.execute("VACUUM ANALYZE")
            rollup = conn.execute("SELECT count(*) FROM analytics.daily_rollup").fetchone()
            print(f"daily_rollup rows: {rollup[0] if rollup else 0:,}")

        with stack.connect(name, Role.READONLY, direct=True, autocommit=True) as ro:
            all_ms, all_rows = timed(ro, "SELECT * FROM analytics.bot_daily_pnl")
            one_ms, one_rows = timed(
                ro, "SELECT * FROM analytics.bot_daily_pnl WHERE bot_id = %s ORDER BY day",
                ("bench_3",),
            )  # fmt: skip
            pos_ms, _ = timed(ro, "SELECT * FROM analytics.bot_positions")

        first = args.fills + 1
        with_fold = write_batches(stack, name, first, args, step)
        first += args.batch * args.batches
        with stack.connect(name, Role.OWNER, direct=True, autocommit=True) as conn:
            conn.execute("ALTER TABLE trading.fills DISABLE TRIGGER fills_analytics_insert")
        try:
            without = write_batches(stack, name, first, args, step)
        finally:
            with stack.connect(name, Role.OWNER, direct=True, autocommit=True) as conn:
                conn.execute("ALTER TABLE trading.fills ENABLE TRIGGER fills_analytics_insert")

        print()
        print(f"bot_daily_pnl, all bots ({all_rows:,} rows): median {all_ms:.1f} ms")
        print(f"bot_daily_pnl, one bot ({one_rows:,} rows):  median {one_ms:.1f} ms")
        print(f"bot_positions ({BOTS * len(SYMBOLS)} rows):       median {pos_ms:.1f} ms")
        print(f"listener INSERT of {args.batch} fills via PgBouncer, {args.batches} batches:")
        print(f"  analytics trigger on:  {summary(with_fold)}")
        print(f"  analytics trigger off: {summary(without)}")
        print("target: bot_daily_pnl over 10M fills <= 500 ms")
        print("reproduce: .venv/bin/python bench/analytics.py " + " ".join(sys.argv[1:]))
    finally:
        if args.keep:
            stack.pgbouncer.stop()
            stack.redis_server.stop()
            print(f"kept database {name} (roles {stack.prefix}_*)")
        else:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
