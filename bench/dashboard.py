"""The dashboard's first load in a real browser: how long from typing the address to a
usable page, and from signing in to a filled fleet table.

Starts its own PostgreSQL roles, scratch database, PgBouncer and Redis (the test
harness's ``ServiceStack``; nothing shared is touched), registers ``--bots`` bots with
``--fills`` fills each (today and the days before, so positions and daily P&L are real
rows of the analytics views), runs the API in a thread as the tests do, and drives
Debian's headless Chromium (``scripts/setup`` installs it) through Selenium. Each of
``--runs`` rounds starts from an empty browser cache in a fresh tab:

* **page**: the Navigation Timing of ``/`` (``responseEnd`` and ``loadEventEnd``: the
  HTML, script and stylesheet fetched and run) and the bytes transferred;
* **fleet**: from submitting the token to the table showing every bot, measured in the
  page itself with ``performance.now()`` (``GET /me`` and ``GET /fleet``, rendered).

Prints median and p90 of each, and the command that reproduces them. The API's per-token
rate limit is lifted for the run (rounds follow each other much faster than anyone
reloads a page).

    .venv/bin/python bench/dashboard.py --bots 10 --fills 1000 --runs 20
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

from api_harness import add_bot, make_token, running_api  # noqa: E402
from browser import start_chromium  # noqa: E402

from core.config import Role  # noqa: E402
from tests.harness.services import Database, ServiceStack  # noqa: E402

FLEET_RENDERED = """
const done = arguments[arguments.length - 1];
const want = arguments[0];
const start = performance.now();
document.getElementById('token').value = arguments[1];
document.getElementById('login-form').requestSubmit();
(function poll() {
  const rows = document.querySelectorAll('#fleet-table tbody tr[data-bot]').length;
  const message = document.getElementById('message');
  if (rows === want && !document.getElementById('fleet').hidden) {
    done(performance.now() - start);
  } else if (!message.hidden || performance.now() - start > 30000) {
    done('no fleet table: ' + message.textContent);
  } else {
    setTimeout(poll, 2);
  }
})();
"""


def seed(database: Database, bots: int, fills: int) -> None:
    now = datetime.now(UTC)
    for n in range(bots):
        add_bot(database, f"bot_{n:02d}", f"b{n:02d}")
    # One INSERT per bot: alternating buys and sells spread over the last 30 days, the
    # newest today, so every bot has a position and a row of today's P&L.
    with database.connect(Role.LISTENER) as conn:
        for n in range(bots):
            conn.execute(
                "INSERT INTO trading.fills (account, exec_id, bot_id, symbol, side,"
                " exec_price, exec_qty, exec_value, exec_fee, exec_time, source, raw)"
                " SELECT 'main', %s || i, %s, 'BTCUSDT',"
                "  CASE WHEN i %% 2 = 0 THEN 'Buy' ELSE 'Sell' END,"
                "  100 + i %% 7, 0.002 + (i %% 3) * 0.001,"
                "  (100 + i %% 7) * (0.002 + (i %% 3) * 0.001),"
                "  0.01, %s - make_interval(secs => (%s - i) * %s), 'ws', '{}'"
                " FROM generate_series(1, %s) AS i ORDER BY i",
                (f"x{n}-", f"bot_{n:02d}", now, fills, 30 * 86400 / fills, fills),
            )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def line(name: str, values: list[float], unit: str = "ms") -> str:
    return (
        f"{name:<34} median {statistics.median(values):8.1f} {unit}"
        f"   p90 {percentile(values, 0.9):8.1f} {unit}"
    )


def measure(driver: Any, url: str, token: str, bots: int) -> dict[str, float]:
    # Forget the last round's token (same origin, before the page can read it) and cache.
    driver.get(url + "/static/dashboard.css")
    driver.execute_script("sessionStorage.clear()")
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.get(url + "/")
    navigation = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "const r = performance.getEntriesByType('resource');"
        "return {response: n.responseEnd, load: n.loadEventEnd,"
        " bytes: n.transferSize + r.reduce((s, e) => s + e.transferSize, 0)};"
    )
    fleet = driver.execute_async_script(FLEET_RENDERED, bots, token)
    if isinstance(fleet, str):
        raise SystemExit(fleet)
    return {
        "response": navigation["response"],
        "load": navigation["load"],
        "bytes": navigation["bytes"],
        "fleet": fleet,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bots", type=int, default=10, help="bots in the fleet (10)")
    parser.add_argument("--fills", type=int, default=1000, help="fills per bot (1000)")
    parser.add_argument("--runs", type=int, default=20, help="first loads to time (20)")
    args = parser.parse_args()
    stack = ServiceStack.start()
    name = stack.create_database()
    database = Database(name, stack)
    driver = None
    try:
        started = time.monotonic()
        seed(database, args.bots, args.fills)
        print(f"seeded {args.bots} bots × {args.fills} fills in {time.monotonic() - started:.1f} s")
        token = make_token(database, "bench", "viewer")
        driver = start_chromium()
        driver.set_script_timeout(60)
        # Rounds come faster than an operator reloads: lift the per-token rate limit so
        # that it is not what gets measured.
        with running_api(database, rate_per_minute=1_000_000) as api:
            measure(driver, api.url, token, args.bots)  # warm the API's pools and caches
            runs = [measure(driver, api.url, token, args.bots) for _ in range(args.runs)]
        print(line("page: response end", [r["response"] for r in runs]))
        print(line("page: load event end", [r["load"] for r in runs]))
        print(line("sign-in → fleet table rendered", [r["fleet"] for r in runs]))
        print(f"{'bytes transferred for the page':<34} {int(runs[-1]['bytes'])}")
        print(
            "reproduce: .venv/bin/python bench/dashboard.py"
            f" --bots {args.bots} --fills {args.fills} --runs {args.runs}"
        )
    finally:
        if driver is not None:
            driver.quit()
        stack.drop_database(name)
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
