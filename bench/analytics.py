"""Per-bot daily P&L over 10 million fills: how fast does ``analytics.bot_daily_pnl`` answer?

Creates a scratch database (own roles under a random prefix, migrated to head), loads N
fills with ``generate_series`` — 8 bots × 5 symbols over 365 days, random sides and
sizes, so positions flip and partially close — and folds them:

* Loading: the owner disables the ledger's triggers *in this scratch database only*
  (``ALTER TABLE … DISABLE TRIGGER USER``: the single-writer guard and the analytics
  trigger), inserts with one ``INSERT … SELECT generate_series``, re-enables them and runs
  ``analytics.repair(true)`` — the same fold the trigger runs, once over everything.
  (Inserting 10M rows as the listener would fold per statement and take longer; the
  result is identical.)
* Then it times, warm: the whole ``bot_daily_pnl`` and one bot's rows, median of runs;
  and the listener's path: a 500-fill INSERT as the listener role (trigger included).

Everything is dropped at the end unless ``--keep``.

    .venv/bin/python bench/analytics.py --fills 10000000
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from psycopg import sql

from core import db
from core.config import DatabaseRoleSettings, Role, load_settings
from database import bootstrap

BOTS = 8
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")

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


def timed(conn, query: str, params: tuple = (), runs: int = 7) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    samples: list[float] = []
    rows = 0
    for _ in range(runs):
        start = time.perf_counter()
        rows = len(conn.execute(query, params).fetchall())
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=10_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database and roles")
    args = parser.parse_args()

    base = load_settings()
    prefix = "bench" + secrets.token_hex(3)
    name = f"{prefix}_analytics"
    settings = dataclasses.replace(
        base,
        db_roles=DatabaseRoleSettings(role_prefix=prefix),
        postgres=base.postgres.model_copy(update={"db": name}),
    )
    print(f"database {name} on {settings.postgres.host}:{settings.postgres.port}")
    bootstrap.bootstrap(settings)
    bootstrap.upgrade(settings)
    try:
        with db.connect(settings, Role.OWNER, direct=True, autocommit=True) as conn:
            for i in range(BOTS):
                conn.execute(
                    "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type,"
                    " strategy_name, mode) VALUES (%s, %s, %s, 'bench', 'bench', 'paper')",
                    (f"bench_{i}", f"bn{i}", f"bench {i}"),
                )
            t = time.perf_counter()
            conn.execute("ALTER TABLE trading.fills DISABLE TRIGGER USER")
            step = 365 * 86_400_000 // args.fills
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

        with db.connect(settings, Role.READONLY, direct=True, autocommit=True) as ro:
            all_ms, all_rows = timed(ro, "SELECT * FROM analytics.bot_daily_pnl")
            one_ms, one_rows = timed(
                ro, "SELECT * FROM analytics.bot_daily_pnl WHERE bot_id = %s ORDER BY day",
                ("bench_3",),
            )  # fmt: skip
            pos_ms, _ = timed(ro, "SELECT * FROM analytics.bot_positions")
        with db.connect(settings, Role.LISTENER, direct=True, autocommit=True) as li:
            start = args.fills + 1
            batch = LOAD.replace("%(symbols)s", symbols).replace(
                "generate_series(1, %(n)s)", f"generate_series({start}, {start + 499})"
            )
            t = time.perf_counter()
            li.execute(batch, {"bots": BOTS, "nsym": len(SYMBOLS), "step": step})
            insert_ms = (time.perf_counter() - t) * 1000

        print()
        print(f"bot_daily_pnl, all bots ({all_rows:,} rows): median {all_ms:.1f} ms")
        print(f"bot_daily_pnl, one bot ({one_rows:,} rows):  median {one_ms:.1f} ms")
        print(f"bot_positions ({BOTS * len(SYMBOLS)} rows):       median {pos_ms:.1f} ms")
        print(f"listener INSERT of 500 fills incl. fold trigger: {insert_ms:.1f} ms")
        print("target: bot_daily_pnl over 10M fills <= 500 ms")
        print(f"reproduce: .venv/bin/python bench/analytics.py --fills {args.fills}")
    finally:
        if not args.keep:
            with db.admin_connect(settings) as admin:
                drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                admin.execute(drop.format(sql.Identifier(name)))
                for role in Role:
                    admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(
                        sql.Identifier(settings.db_roles.name(role))))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
