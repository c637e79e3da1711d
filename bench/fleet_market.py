"""Production bots in a fleet on a moving market, trading at once (issue 19).

Many of each bundled type, each with the parameters production registers:

    .venv/bin/python bench/fleet_market.py [--groups 5] [--days 16] [--speed 3600] [--seed 1]
                                           [--types T,...] [--log-level L] [--fills-csv F]

``bench/fleet.py`` measures fifty bots' reactions on a flat market that only its
``benchflip`` bots answer: the production types there act on 5-, 15- and 240-minute bars
and see too few of them. Here every bot is a production one and the market moves as in
the rehearsal (``scripts/rehearse``): the paper exchange's ``production`` scenario, 20
days of history for warm-up, realistic liquidity (orders fill in pieces and slip), run
at ``--speed`` simulated seconds per real second for ``--days``.

The fleet is ``--groups`` copies of the production deployment's four bots, registered
as the bootstrap service of ``docker-compose.production.yml`` registers them (type,
symbols, capital, the risk block; read from that file): in each group a ShortSeller and
an LXAlgo share one account, Momentum and Order block have one each (``--exclusive``).
Every bot is an ``alpha run bot`` process with its keys in the shared Redis database;
one ``alpha run listener`` follows every account, over this run's PostgreSQL, PgBouncer
and Redis (the test harness starts them).

Measured:

1. **trading**: per bot, fills and round trips (a position from flat back to flat, the
   rehearsal's count), summed per type; and **protection**: from each entry's first fill
   to the bot's stop at the exchange, in market minutes (how far the market moved on
   while the bot reacted: at a compressed clock, on a loaded machine, a price can run
   through the stop's level first, and the bot then closes at market), with the loss
   limits in force at the end;
2. **exactly once**: every execution the exchange made for these accounts (its own
   record, ``/paper/dump``) is in the ledger once (``trading.fills`` or
   ``trading.funding``) and the ledger has nothing else;
3. **the listener's lag** under the fleet's own trading: from each execution's push at
   the bench's own socket to the ledger transaction that recorded it (``ingested_at``,
   PostgreSQL's ``now()``: the transaction's start; both clocks are this machine's),
   against the raw cost of that path's write measured in the same run (a one-row
   transaction through PgBouncer);
4. **CPU** of the bots, the listener and the exchange over the move, and the machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import bot_stack  # bench/bot_stack.py
from bot_stack import ROOT, summary, wait
from fleet import cpu_of, machine_busy  # bench/fleet.py

#: The bootstrap's risk block (``risk=`` in docker-compose.production.yml's bootstrap).
RISK = {"max_daily_loss_pct": "5", "max_drawdown_pct": "25"}
BALANCE = "100000"  # USDT per paper account


def production_bots() -> dict[str, dict[str, str]]:
    """The four bots the production compose file registers, with their flags."""
    from deploy import compose_file

    found = compose_file.registrations(compose_file.load())
    if len(found) != 4:
        raise SystemExit(f"expected four registrations in the compose file, found {found}")
    return found


def fleet(groups: int, types: set[str] | None = None) -> list[dict[str, Any]]:
    """``groups`` copies of the production bots (of ``types``, or all): id, link code,
    account, registration."""
    out = []
    for g in range(1, groups + 1):
        for _bot_id, flags in sorted(production_bots().items()):
            kind = flags["type"]
            if types is not None and kind not in types:
                continue
            shared = flags["account"] == "main"  # ShortSeller and LXAlgo share theirs
            out.append({
                "bot_id": f"{kind}_{g:03d}", "code": f"{flags['code'][:2]}{g}",
                "type": kind, "account": f"grp{g}" if shared else f"{kind[:3]}{g}",
                "exclusive": not shared, "symbols": flags["symbols"],
                "capital": flags.get("initial-capital"),
            })  # fmt: skip
    return out


def register(stack: Any, dbname: str, bot: dict[str, Any]) -> None:
    from database import bots as registry

    spec = registry.build_spec(
        bot_id=bot["bot_id"], bot_code=bot["code"], bot_name=bot["bot_id"],
        bot_type=bot["type"], strategy_name=bot["type"], account=bot["account"],
        redis_db=None, symbols=bot["symbols"], mode="paper",
        config=json.dumps({"risk": RISK}), initial_capital=bot["capital"],
        exclusive=bot["exclusive"],
    )  # fmt: skip
    with stack.connect(dbname, "owner", direct=True) as conn:
        registry.register(conn, spec)
        conn.commit()


class Arrivals:
    """The wall time each execution's first push reached the bench's own sockets."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.at: dict[str, float] = {}

    def execution(self, message: dict[str, Any]) -> None:
        now = time.time()
        with self.lock:
            for e in message.get("data", []):
                self.at.setdefault(e["execId"], now)


def sockets(ws_url: str, arrivals: Arrivals, keys: list[tuple[str, str]]) -> list[Any]:
    from core.exchange.client import AlphaWebSocket

    out = []
    for key, secret in keys:
        private = AlphaWebSocket(
            "private", base_url=ws_url, testnet=False, api_key=key, api_secret=secret,
            trace_logging=False, private_auth_expire=10,
        )  # fmt: skip
        private.execution_stream(arrivals.execution)
        out.append(private)
    return out


def ledger(stack: Any, dbname: str) -> dict[str, dict[str, Any]]:
    """Every execution in the ledger: exec id → its facts, its bot shares (``shares``:
    bot id → quantity, or funding fee) and how many rows hold it. An execution several
    bots hold is one row per bot share (migration 0019; funding since 0007)."""
    with stack.connect(dbname, "owner", direct=True) as conn:
        rows = conn.execute(
            "SELECT exec_id, bot_id, symbol, side, exec_qty, NULL::numeric, exec_time, seq,"
            " extract(epoch FROM ingested_at)::float8 FROM trading.fills"
            " UNION ALL SELECT exec_id, bot_id, symbol, side, NULL, funding_fee, exec_time, 0,"
            " extract(epoch FROM ingested_at)::float8 FROM trading.funding"
        ).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for exec_id, bot_id, symbol, side, qty, fee, at, seq, ingested in rows:
        row = out.setdefault(exec_id, {"rows": 0, "shares": {}, "funding": qty is None})
        row.update(symbol=symbol, side=side, exec_time=at, seq=seq, ingested=ingested)
        row["shares"][bot_id] = fee if qty is None else qty
        row["rows"] += 1
    return out


def exactly_once(made: dict[str, dict[str, Any]], rows: dict[str, dict[str, Any]]) -> list[str]:
    """What is wrong with the ledger against the exchange's own record: an execution
    missing or not the exchange's, a bot holding it twice, or shares that do not sum to
    the execution's quantity (a trade) or fee (funding)."""
    problems = [f"{e} missing" for e in sorted(set(made) - set(rows))]
    problems += [f"{e} is not the exchange's" for e in sorted(set(rows) - set(made))]
    for exec_id, row in rows.items():
        if exec_id not in made:
            continue
        if row["rows"] != len(row["shares"]):
            problems.append(f"{exec_id}: a bot holds it twice")
        field = "execFee" if row["funding"] else "execQty"
        if sum(row["shares"].values()) != Decimal(str(made[exec_id][field])):
            problems.append(f"{exec_id}: shares sum to {sum(row['shares'].values())}, "
                            f"the exchange's {field} is {made[exec_id][field]}")  # fmt: skip
    return problems


def stop_lag(dumps: list[dict[str, Any]]) -> dict[str, list[tuple[int, bool]]]:
    """Per bot link code, for each entry order that filled: market milliseconds from its
    first fill to the bot's next stop order at the exchange, and whether that was a stop
    resting at its trigger (``True``) or a market exit (``False``: the exchange refused
    the stop because the price had already passed it, 110092/110093, and the bot closed
    instead). From the exchange's own record: its execution and order times are market
    time, so the figure says how far the market moved on while the bot reacted, whatever
    the clock's speed. Bots that never rest a stop are left out."""
    out: dict[str, list[tuple[int, bool]]] = {}
    for dump in dumps:
        first_fill: dict[str, int] = {}
        for row in dump["executions"]:
            link = str(row.get("orderLinkId") or "")
            if link.split("-")[1:2] == ["en"] and row.get("execType", "Trade") == "Trade":
                t = int(row["execTime"])
                first_fill[link] = min(t, first_fill.get(link, t))
        stops: dict[str, list[tuple[int, bool]]] = {}
        for order in dump["orders"]:
            code, role = [*str(order["orderLinkId"]).split("-"), "", ""][:2]
            if role == "sl":
                resting = Decimal(str(order["triggerPrice"] or "0")) > 0
                stops.setdefault(code, []).append((int(order["createdTime"]), resting))
        for code, placed in stops.items():
            if not any(resting for _, resting in placed):
                continue  # closes at market by design (no stop at the exchange)
            placed.sort()
            fills = sorted(t for link, t in first_fill.items() if link.startswith(f"{code}-"))
            for t in fills:
                after = next((p for p in placed if p[0] >= t), None)
                if after is not None:
                    out.setdefault(code, []).append((after[0] - t, after[1]))
    return out


def write_cost(stack: Any, dbname: str, n: int) -> list[float]:
    """ms of a one-row INSERT and COMMIT through PgBouncer: the raw cost of the write."""
    with stack.connect(dbname, "owner", direct=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.bench_write (id int, at timestamptz)")
        conn.commit()
    out = []
    with stack.connect(dbname, "owner") as conn:
        for i in range(n):
            t0 = time.perf_counter()
            conn.execute("INSERT INTO public.bench_write VALUES (%s, now())", (i,))
            conn.commit()
            out.append(1000 * (time.perf_counter() - t0))
    return out


def histogram_quantiles(port: int, name: str, qs: tuple[float, ...]) -> tuple[int, list[str]]:
    """From a process's ``/metrics``: the histogram's count and, for each quantile, the
    bucket it falls in (``≤ 5 ms``): what Prometheus itself would be able to say."""
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    buckets = []
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float(le), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    count = int(buckets[-1][1]) if buckets else 0
    out = []
    for q in qs:
        bound = next((le for le, n in buckets if n >= q * count), float("inf"))
        out.append(f"p{100 * q:g} ≤ {1000 * bound:g} ms" if count else "none")
    return count, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=5,
                        help="copies of the production deployment's four bots (default 5:"
                        " 20 bots on 15 accounts)")  # fmt: skip
    parser.add_argument("--days", type=float, default=16.0,
                        help="simulated days (default 16, the rehearsal's)")  # fmt: skip
    parser.add_argument("--speed", type=float, default=3600.0,
                        help="simulated seconds per real second (default 3600, the"
                        " rehearsal's)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="market seed (default 1)")
    parser.add_argument("--types", help="only these bot types, comma-separated (default all)")
    parser.add_argument("--log-level", default="WARNING",
                        help="the alpha processes' log level (default WARNING); with"
                        " BENCH_KEEP_LOGS=DIR their logs are kept there")  # fmt: skip
    parser.add_argument("--fills-csv", type=Path, metavar="FILE",
                        help="write every trade share in the ledger here, in ledger"
                        " order")  # fmt: skip
    args = parser.parse_args()
    if args.groups < 1 or args.days <= 0 or args.speed <= 0:
        parser.error("--groups at least 1; --days and --speed positive")

    from bots.runtime.loss_limits import risk_key
    from core import redis_keys
    from deploy.rehearsal.checks import round_trips
    from paper_exchange.testing import spawn_exchange
    from tests.harness.services import ServiceStack

    load = os.getloadavg()
    types = set(args.types.split(",")) if args.types else None
    members = fleet(args.groups, types)
    if not members:
        parser.error(f"--types: none of {sorted(types or ())} is a production bot type")
    names = sorted({m["account"] for m in members})
    keys = {name: (f"{name}-key", f"{name}-secret") for name in names}
    stack = ServiceStack.start()
    exchange = listener = None
    bots: dict[str, Any] = {}
    socks: list[Any] = []
    logs = stack.tmp / "logs"
    logs.mkdir()
    try:
        accounts = [f"--account={n}:{k}:{s}:{BALANCE}" for n, (k, s) in keys.items()]
        exchange = spawn_exchange([
            *accounts, "--scenario", "production", "--seed", str(args.seed),
            "--speed", "manual", "--history-minutes", "28800", "--liquidity", "realistic",
        ])  # fmt: skip
        arrivals = Arrivals()
        socks = sockets(exchange.ws_url, arrivals, list(keys.values()))
        dbname = stack.create_database()
        for bot in members:
            register(stack, dbname, bot)
        env = {
            **stack.env(dbname),
            "PYTHONPATH": str(ROOT),
            "BYBIT_ENV": "paper",
            "BYBIT_REST_URL": exchange.rest_url,
            "BYBIT_WS_URL": exchange.ws_url,
            "LISTENER_SPOOL_DIR": str(stack.tmp / "spool"),
            "ALPHA_LOG_LEVEL": args.log_level,
        }
        for name, (key, secret) in keys.items():
            env[f"BYBIT_ACCOUNT_{name.upper()}_API_KEY"] = key
            env[f"BYBIT_ACCOUNT_{name.upper()}_API_SECRET"] = secret
        infra, shared = stack.redis(15), stack.redis(redis_keys.bot_db(None))
        from devenv.ports import free_port_below_ephemeral

        listener_port = free_port_below_ephemeral()
        listener = bot_stack.spawn_alpha(env, logs, stack.tmp, "listener",
                                         extra={"ALPHA_HTTP_PORT": str(listener_port)})  # fmt: skip
        wait(lambda: all(infra.hget(redis_keys.LISTENER_STATUS, f"{n}:connected") == "1"
                         for n in names) or listener.poll() is not None,
             90, "the listener on every account")  # fmt: skip

        def exited() -> str | None:
            for name, proc in (*bots.items(), ("listener", listener)):
                if proc is not None and proc.poll() is not None:
                    return f"{name} exited {proc.returncode}"
            return None

        spawned = time.monotonic()
        for bot in members:
            bots[bot["bot_id"]] = bot_stack.spawn_alpha(env, logs, stack.tmp, "bot", bot["bot_id"])
        wait(lambda: exited() or all(shared.exists(redis_keys.heartbeat(b)) for b in bots),
             120 + 5 * len(bots), "every bot's first heartbeat")  # fmt: skip
        if why := exited():
            raise SystemExit(f"{why} at start; see {logs}")
        started = time.monotonic() - spawned
        time.sleep(10)  # start-up's CPU over

        pids = [proc.pid for proc in bots.values()]
        others = {"listener": [listener.pid], "paper exchange": [exchange.process.pid]}
        before = {"bots": cpu_of(pids), **{k: cpu_of(v) for k, v in others.items()}}
        machine_before = machine_busy()
        load_move = os.getloadavg()
        seconds = args.days * 86400 / args.speed
        t0 = time.monotonic()
        exchange.control.post("/paper/clock", speed=args.speed)
        while time.monotonic() - t0 < seconds:
            if why := exited():
                raise SystemExit(f"{why} during the move; see {logs}")
            time.sleep(1)
        exchange.control.post("/paper/clock", speed=None)  # the market stops here
        move = time.monotonic() - t0
        cpu = {k: 100 * (cpu_of(pids if k == "bots" else others[k]) - v) / move
               for k, v in before.items()}  # fmt: skip
        machine = 100 * (machine_busy() - machine_before) / move

        dumps = [exchange.control.dump(name) for name in names]
        made = {row["execId"]: row for d in dumps for row in d["executions"]}

        def caught_up() -> bool:
            return set(made) <= set(ledger(stack, dbname))

        wait(caught_up, 120, "every execution in the ledger")
        time.sleep(5)  # anything late or twice would show now
        rows = ledger(stack, dbname)
        problems = exactly_once(made, rows)
        shared_rows = sum(1 for r in rows.values() if len(r["shares"]) > 1)
        lag = {
            kind: [1000 * (rows[e]["ingested"] - at) for e, at in arrivals.at.items()
                   if e in rows and rows[e]["funding"] == (kind == "funding")]
            for kind in ("trades", "funding")
        }  # fmt: skip
        own = histogram_quantiles(listener_port, "alpha_listener_fill_latency_seconds",
                                  (0.5, 0.99))  # fmt: skip
        writes = write_cost(stack, dbname, 1000)

        fills = sorted(
            ({"bot_id": bot, "symbol": r["symbol"], "side": r["side"], "exec_qty": qty,
              "order": (r["exec_time"], r["seq"])}
             for r in rows.values() if not r["funding"] for bot, qty in r["shares"].items()),
            key=lambda f: f["order"],
        )  # fmt: skip
        trips = round_trips(fills)
        if args.fills_csv is not None:
            args.fills_csv.write_text("bot_id,symbol,side,exec_qty,exec_time,seq\n" + "".join(
                f"{f['bot_id']},{f['symbol']},{f['side']},{f['exec_qty']},"
                f"{f['order'][0].isoformat()},{f['order'][1]}\n" for f in fills))  # fmt: skip
        per_bot = Counter(r["bot_id"] for r in fills)
        kinds = {m["bot_id"]: m["type"] for m in members}
        print(f"machine: {os.cpu_count()} CPUs, load average before the run "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
        print(f"fleet: {len(members)} 'alpha run bot' processes ({args.groups} of each of "
              f"{', '.join(sorted(set(kinds.values())))}, as production registers them) on "
              f"{len(names)} accounts; "
              f"one 'alpha run listener'; every bot up {started:.1f} s after the spawn"
              )  # fmt: skip
        print(f"market: scenario 'production', seed {args.seed}, {args.days:g} days at "
              f"{args.speed:g}x in {move:.0f} s (load average at its start "
              f"{load_move[0]:.2f})")  # fmt: skip
        print("trading, per type: bots with a round trip / bots; round trips (median per bot,"
              " fewest); fills")  # fmt: skip
        for kind in sorted(set(kinds.values())):
            ids = [b for b in kinds if kinds[b] == kind]
            counts = [trips.get(b, 0) for b in ids]
            print(f"    {kind:11} {sum(c > 0 for c in counts)}/{len(ids)}; {sum(counts)} "
                  f"(median {statistics.median(counts):g}, fewest {min(counts)}); "
                  f"{sum(per_bot[b] for b in ids)}; per bot: "
                  + " ".join(str(c) for c in counts))  # fmt: skip
        halts = {b: shared.hget(risk_key(b), "halt") for b in kinds}
        lags = stop_lag(dumps)
        codes = {m["code"]: m["bot_id"] for m in members}
        print("protection, per type: entry fill → the bot's stop at the exchange, in market"
              " minutes (the market's move while the bot reacted; the real time is that ÷"
              " the speed); stops the price had already passed, closed at market instead;"
              " loss limits in force at the end")  # fmt: skip
        for kind in sorted(set(kinds.values())):
            mine = [lag for code, v in lags.items() if kinds[codes[code]] == kind for lag in v]
            held = Counter(h for b, h in halts.items() if kinds[b] == kind and h)
            minutes = [ms / 60_000 for ms, _ in mine]
            print(f"    {kind:11} " + (
                f"{summary(minutes).replace(' ms', ' min')}; passed: "
                f"{sum(not resting for _, resting in mine)} of {len(mine)}"
                if mine else "no stop placed"
            ) + "; halted: " + (", ".join(f"{n} on {h}" for h, n in sorted(held.items()))
                                or "none"))  # fmt: skip
        funding = sum(1 for r in rows.values() if r["funding"])
        print(f"exactly once: {len(made)} executions at the exchange ({len(made) - funding} "
              f"trades, {funding} funding; {shared_rows} of them split between the bots "
              f"holding the symbol on a shared account); each in the ledger once, its shares "
              f"summing to the exchange's quantity or fee: "
              + ("yes" if not problems else f"NO: {'; '.join(problems[:5])}"))  # fmt: skip
        print("listener lag, push at the bench's own socket → the ledger transaction that"
              " recorded it (the bench's socket threads share the cores: a negative figure"
              " is the bench late, not the listener early):")  # fmt: skip
        for kind, values in lag.items():
            print(f"    {kind}: {summary(values)}")
        print(f"    the listener's own histogram, socket → ledger committed and Redis updated"
              f" (alpha_listener_fill_latency_seconds, n = {own[0]}): "
              + ", ".join(own[1]))  # fmt: skip
        print(f"    raw: a one-row transaction through PgBouncer, same run: {summary(writes)}")
        print("CPU over the move (% of one core): "
              + ", ".join(f"{k} {v:.1f} %" for k, v in cpu.items())
              + f"; the whole machine {machine:.1f} %; the bots' CPU per simulated day: "
              f"{cpu['bots'] * move / 100 / args.days:.1f} s, "
              f"{cpu['bots'] * move / 100 / args.days / 864:.3f} % of a core at the real"
              " market's pace")  # fmt: skip
        print("reproduce: .venv/bin/python bench/fleet_market.py " + " ".join(sys.argv[1:]))
        return 0 if not problems and all(trips.get(b, 0) for b in kinds) else 1
    finally:
        bot_stack.tear_down([*bots.values(), listener], socks, exchange, logs, stack)


if __name__ == "__main__":
    sys.exit(main())
