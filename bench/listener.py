"""Listener throughput and isolated-fill commit latency, end to end.

    .venv/bin/python bench/listener.py [--fills 20000] [--latency-samples 200]

(a) fills/s: the paper exchange's synthetic emitter pushes N executions as fast as the
    socket drains → real pybit → the listener's writer → ledger commit (PgBouncer,
    PostgreSQL) → Redis positions; timed from the first push to the last row committed.
(b) isolated-fill latency: one execution at a time, from the exchange creating it
    (``execTime``, real-time clock) to the transaction that inserted it
    (``ingested_at``: the commit follows within the same round trip), p50/p99.

Starts its own PostgreSQL roles/database, PgBouncer and Redis (the test harness) and
an in-process paper exchange; nothing shared is touched.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.harness

from pydantic import SecretStr

from core.config import AccountCredentials, BybitSettings, ListenerSettings
from core.ids import AccountName
from paper_exchange.testing import running_exchange
from tests.harness.services import ServiceStack
from websocket_listener.service import Listener


def _count(conn) -> int:  # type: ignore[no-untyped-def]
    (n,) = conn.execute("SELECT count(*) FROM trading.fills").fetchone()
    conn.commit()
    return int(n)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=20000)
    parser.add_argument("--latency-samples", type=int, default=200)
    args = parser.parse_args()
    stack = ServiceStack.start()
    try:
        dbname = stack.create_database()
        with stack.connect(dbname, "owner", direct=True) as conn:
            conn.execute(
                "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name,"
                " mode, account, redis_db) VALUES ('bench_bot', 'bb1', 'bench', 'bench', 'bench',"
                " 'paper', 'main', 1)"
            )
            conn.commit()
        with running_exchange(accounts=[("main", "k", "s")], speed=1.0) as ex:
            settings = dataclasses.replace(
                stack.settings(dbname),
                bybit=BybitSettings(env="paper", rest_url=ex.rest_url, ws_url=ex.ws_url),
                listener=ListenerSettings(spool_dir=stack.tmp / "bench-spool", max_batch=2000),
                accounts={
                    AccountName("main"): AccountCredentials(
                        AccountName("main"), SecretStr("k"), SecretStr("s")
                    )
                },
            )
            listener = Listener(settings)
            stop = threading.Event()
            runner = threading.Thread(target=listener.run, args=(stop,), daemon=True)
            runner.start()
            while not all(s.connected for s in listener.streams.values()):
                time.sleep(0.05)
            time.sleep(1)
            reader = stack.connect(dbname, "readonly")

            started = time.perf_counter()
            ex.control.post("/paper/synthetic", account="main", count=args.fills, rate=0,
                            batch=100, link_prefix="bb1-en-")  # fmt: skip
            while _count(reader) < args.fills:
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
            rate = args.fills / elapsed

            before = _count(reader)
            for i in range(args.latency_samples):
                ex.control.post("/paper/synthetic", account="main", count=1, rate=0, batch=1,
                                link_prefix=f"bb1-en-{i}x")  # fmt: skip
                while _count(reader) < before + i + 1:
                    time.sleep(0.002)
                time.sleep(0.02)  # isolated: nothing else in flight
            rows = reader.execute(
                "SELECT extract(epoch FROM ingested_at) * 1000 - (raw->>'execTime')::bigint"
                " FROM trading.fills ORDER BY ingested_at DESC LIMIT %s",
                (args.latency_samples,),
            ).fetchall()
            lat = sorted(float(r[0]) for r in rows)
            p50 = statistics.median(lat)
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
            rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            stop.set()
            runner.join(30)
        print(f"listener throughput: {args.fills} fills in {elapsed:.2f}s = {rate:,.0f} fills/s")
        print(f"isolated fill exchange→row: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
              f"({len(lat)} samples)")  # fmt: skip
        print(f"peak RSS of this process (exchange + listener + bench): {rss_mb:.0f} MB")
        print("reproduce: .venv/bin/python bench/listener.py " + " ".join(sys.argv[1:]))
        stack.drop_database(dbname)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
