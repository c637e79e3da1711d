"""``kill -9`` of ``alpha run listener`` during a stream of thousands of fills.

The listener runs as a real subprocess against the paper exchange (in this process),
PgBouncer, PostgreSQL and Redis; it is killed with SIGKILL several times while the
exchange's synthetic emitter pushes executions, and restarted each time. Whatever was
received but not committed when it died must come back through the catch-up on the
next connect: at the end every execution is in the ledger exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from paper_exchange.testing import running_exchange
from tests.websocket_listener.helpers import (
    SHARED,
    ledger,
    listener_env,
    redis_positions,
    register_bots,
    spawn_listener,
)

FILLS = 3000


def _start(env, cwd):
    return spawn_listener(env, cwd, open(os.path.join(cwd, "listener.log"), "a"))


@pytest.mark.slow
def test_kill_9_repeatedly_during_a_stream_loses_and_duplicates_nothing(database, redis, tmp_path):
    register_bots(database, SHARED)
    with running_exchange(accounts=[("main", "k-main", "s-main")], seed=5) as ex:
        env = listener_env(database, tmp_path / "spool", ex)
        env["LISTENER_CATCHUP_MARGIN_SECONDS"] = "60"
        proc = _start(env, str(tmp_path))
        try:
            time.sleep(3)  # connected and caught up (nothing to catch up yet)
            ex.control.post(
                "/paper/synthetic", account="main", count=FILLS, rate=1000, batch=20,
                link_prefix="aa1-en-",
            )  # fmt: skip
            kills = 0
            for _ in range(4):
                time.sleep(0.6)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                kills += 1
                proc = _start(env, str(tmp_path))
            produced: set[str] = set()
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                produced = {r["execId"] for r in ex.control.dump("main")["executions"]}
                if len(produced) == FILLS and set(ledger(database)) == produced:
                    break
                time.sleep(0.5)
            rows = ledger(database)  # asserts no exec_id twice
            assert len(produced) == FILLS
            assert set(rows) == produced, f"missing {len(produced - set(rows))}"
            assert {v[0] for v in rows.values()} == {"alpha_one"}
            assert kills == 4
            with database.connect("readonly") as conn:
                sources = dict(
                    conn.execute("SELECT source, count(*) FROM trading.fills GROUP BY source")
                )
            assert sources.get("rest", 0) > 0, "nothing was recovered by catch-up"
            # The restarted listener's positions equal the ledger's net quantity.
            time.sleep(1)
            qty = redis_positions(database.stack, SHARED).get(("alpha_one", "BTCUSDT"))
            with database.connect("readonly") as conn:
                (net,) = conn.execute(
                    "SELECT sum(CASE side WHEN 'Buy' THEN exec_qty ELSE -exec_qty END)"
                    " FROM trading.fills"
                ).fetchone()
            assert qty == net
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
