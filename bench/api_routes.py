"""API latency over a large ledger: ``GET /fleet`` and the P&L routes at N fills
(10 million by default), each next to the raw SQL time of the same queries measured in
the same run.

Starts its own PostgreSQL roles, scratch database, PgBouncer and Redis (the test
harness's ``ServiceStack``; nothing shared is touched). Loading: the owner disables the
ledger's analytics triggers *in this scratch database only* (the single-writer guard
stays), the listener role inserts N fills with one ``INSERT … SELECT generate_series`` (``--bots``
bots × 5 symbols, random sides and sizes, spread over the ``--days`` before now so that
today has rows), re-enables them and runs ``analytics.repair(true)`` — the fold the
trigger runs, once over everything (far faster than 10 million trigger calls), so
``analytics.fill_pnl``, ``daily_rollup`` and ``fold_state`` are exactly what inserting
the fills one batch at a time would have left.

Then the API runs in a thread as in the tests (readonly role through PgBouncer; the
per-token rate limit lifted so that it is not what gets measured) and each route is
requested ``--requests`` times in a row over one keep-alive connection; the same SQL the
route runs is timed ``--requests`` times as the readonly role through PgBouncer. p50 and
p99 of both, so the difference is the API's own cost (HTTP, JSON, Redis, the route's
Python).

    .venv/bin/python bench/api_routes.py --fills 10000000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "api")]  # tests.harness, api_harness

import requests  # noqa: E402
from api_harness import make_token, running_api  # noqa: E402

from api import fleet, queries, reads  # noqa: E402
from core.config import Role  # noqa: E402
from core.ids import EXTERNAL_BOT  # noqa: E402
from tests.harness.services import Database, ServiceStack  # noqa: E402

#: The fold's triggers on the ledger (database/migrations 0002/0003).
ANALYTICS_TRIGGERS = ("fills_analytics_insert", "fills_analytics_update", "fills_analytics_delete")
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")

LOAD = """
INSERT INTO trading.fills (account, exec_id, bot_id, symbol, side, exec_price, exec_qty,
                           exec_value, exec_fee, exec_time, seq, source, raw)
SELECT 'main', 'b' || g, 'bench_' || lpad(mod(g, %(bots)s)::text, 2, '0'), sym, side, price,
       qty, price * qty, round(price * qty * 0.00055, 8),
       %(start)s::timestamptz + (g::bigint * %(step)s) * interval '1 millisecond',
       g, 'ws', '{}'
  FROM generate_series(1, %(n)s) AS g,
       LATERAL (SELECT (ARRAY%(symbols)s)[1 + mod(g / %(bots)s, %(nsym)s)] AS sym,
                       CASE WHEN random() < 0.5 THEN 'Buy' ELSE 'Sell' END AS side,
                       round((100 + 20 * random())::numeric, 2) AS price,
                       round((0.001 + random())::numeric, 3) AS qty) x
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> str:
    return (
        f"  {name:<44} p50 {statistics.median(values):8.2f} ms"
        f"   p99 {percentile(values, 0.99):8.2f} ms"
    )


def load(database: Database, bots: int, fills: int, days: int) -> None:
    now = datetime.now(UTC)
    step = days * 86_400_000 // fills
    start = now.timestamp() - step * fills / 1000 - 60  # the newest fill a minute ago
    symbols = "[" + ", ".join(f"'{s}'" for s in SYMBOLS) + "]"
    with database.connect(Role.OWNER, direct=True, autocommit=True) as conn:
        for i in range(bots):
            conn.execute(
                "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name,"
                " mode, symbols, initial_capital, last_heartbeat)"
                " VALUES (%s, %s, %s, 'bench', 'bench', 'paper', %s, 10000, now())",
                (f"bench_{i:02d}", f"bn{i:02d}", f"bench {i}", list(SYMBOLS)),
            )
        conn.execute(
            "INSERT INTO trading.drift_events (account, symbol, exchange_qty, ledger_qty)"
            " VALUES ('main', 'XRPUSDT', 1, 0)"
        )
        # The analytics triggers off (the single-writer guard stays: the listener role
        # inserts, as in production), the fold once at the end.
        for trigger in ANALYTICS_TRIGGERS:
            conn.execute(f"ALTER TABLE trading.fills DISABLE TRIGGER {trigger}")
        t = time.perf_counter()
        with database.connect(Role.LISTENER, direct=True, autocommit=True) as writer:
            writer.execute(
                LOAD.replace("%(symbols)s", symbols),
                {
                    "bots": bots,
                    "nsym": len(SYMBOLS),
                    "n": fills,
                    "step": step,
                    "start": datetime.fromtimestamp(start, UTC),
                },
            )
        for trigger in ANALYTICS_TRIGGERS:
            conn.execute(f"ALTER TABLE trading.fills ENABLE TRIGGER {trigger}")
        print(f"loaded {fills:,} fills in {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        conn.execute("SELECT analytics.repair(true)")
        print(f"folded them (analytics.repair) in {time.perf_counter() - t:.1f} s", flush=True)
        conn.execute("VACUUM ANALYZE")
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM analytics.fill_pnl),"
            " (SELECT count(*) FROM analytics.daily_rollup)"
        ).fetchone()
        assert counts is not None and counts[0] == fills, counts  # every fill folded
        print(f"fill_pnl rows {counts[0]:,}, daily_rollup rows {counts[1]:,}", flush=True)


def time_route(session: requests.Session, url: str, token: str, runs: int) -> list[float]:
    samples = []
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(runs):
        start = time.perf_counter()
        r = session.get(url, headers=headers, timeout=60)
        samples.append((time.perf_counter() - start) * 1000)
        if r.status_code != 200:
            raise SystemExit(f"{url}: {r.status_code} {r.text[:200]}")
    return samples


def time_sql(conn: Any, statements: list[tuple[str, Any]], runs: int) -> list[float]:
    """The statements of one request, in one transaction as the route runs them."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        with conn.transaction():
            for sql, params in statements:
                conn.execute(sql, params).fetchall()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fills", type=int, default=10_000_000)
    parser.add_argument("--bots", type=int, default=30, help="bots in the fleet (30)")
    parser.add_argument("--days", type=int, default=365, help="days the fills span (365)")
    parser.add_argument("--requests", type=int, default=200, help="requests per route (200)")
    args = parser.parse_args()
    stack = ServiceStack.start()
    name = stack.create_database()
    database = Database(name, stack)
    try:
        load(database, args.bots, args.fills, args.days)
        token = make_token(database, "bench", "viewer")
        bot = "bench_07"
        today = datetime.now(UTC).date()
        external = str(EXTERNAL_BOT)
        cases: list[tuple[str, str, list[tuple[str, Any]]]] = [
            (
                "GET /fleet",
                "/api/v1/fleet",
                [
                    (fleet.FLEET_BOTS, (external,)),
                    (fleet.FLEET_POSITIONS, (external,)),
                    (fleet.FLEET_PNL, (today,)),
                    (fleet.FLEET_DRIFT, None),
                ],
            ),
            (
                "GET /bots/{id}/pnl/daily",
                f"/api/v1/bots/{bot}/pnl/daily",
                [(queries.DAILY_PNL + " ORDER BY day", (bot,))],
            ),
            (
                "GET /bots/{id}/pnl/daily?from=today&to=today",
                f"/api/v1/bots/{bot}/pnl/daily?from={today}&to={today}",
                [(queries.DAILY_PNL + " AND day >= %s AND day <= %s", (bot, today, today))],
            ),
            (
                "GET /bots/{id}/equity",
                f"/api/v1/bots/{bot}/equity",
                [(reads.EQUITY, (10000, bot))],
            ),
            (
                "GET /bots/{id}/positions",
                f"/api/v1/bots/{bot}/positions",
                [
                    (
                        "SELECT symbol, qty, avg_price, realized_pnl, fees, gross_pnl, volume,"
                        " fills, last_fill FROM analytics.bot_positions WHERE bot_id = %s"
                        " ORDER BY symbol",
                        (bot,),
                    )
                ],
            ),
            (
                "GET /bots/{id}/round-trips (50)",
                f"/api/v1/bots/{bot}/round-trips",
                [(reads.ROUND_TRIPS, {"account": "main", "bot": bot, "limit": 50})],
            ),
        ]
        results: list[tuple[str, list[float], list[float]]] = []
        with running_api(database, rate_per_minute=10_000_000) as api:
            session = requests.Session()
            with database.connect(Role.READONLY) as conn:  # through PgBouncer, as the API
                for label, path, statements in cases:
                    time_route(session, api.url + path, token, 3)  # warm
                    http = time_route(session, api.url + path, token, args.requests)
                    sql = time_sql(conn, statements, args.requests)
                    results.append((label, http, sql))
                    print(label, flush=True)
                    print(line("HTTP (the route, end to end)", http), flush=True)
                    print(line("raw SQL (same statements, readonly, PgBouncer)", sql), flush=True)
        print()
        print(f"{args.fills:,} fills, {args.bots} bots × {len(SYMBOLS)} symbols, {args.days} days")
        for label, http, sql in results:
            print(label)
            print(line("HTTP (the route, end to end)", http))
            print(line("raw SQL (same statements, readonly, PgBouncer)", sql))
        print("reproduce: .venv/bin/python bench/api_routes.py " + " ".join(sys.argv[1:]))
    finally:
        stack.drop_database(name)
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
