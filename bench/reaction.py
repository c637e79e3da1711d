"""How fast a bot reacts (issue 19's reaction benchmarks), in one run.

    .venv/bin/python bench/reaction.py [--candles 2000] [--raw 1000] [--pauses 1000]

Everything is real and separate, as deployed: the paper exchange (its own process,
manual clock, a replayed flat market), ``alpha run listener`` and ``alpha run bot``
(their own processes) over this run's PostgreSQL database, PgBouncer and Redis (the test
harness starts them; nothing shared is touched). The bot's type is ``benchflip``
(``bench/flip_strategy.py``), a test strategy published as a plugin: flat → market buy on
every closed candle, its fill → a protective stop, long → cancel the stop and sell. So
every candle makes an order and every other candle an entry fill.

The bench watches the exchange like a client would, with its own pybit sockets (the
public ``kline`` topic and the bot account's private ``order`` and ``execution``
topics), and advances the clock one bar at a time (59 s, then the closing second):

(a) candle close → order accepted: the confirmed kline arrives here → the first
    ``order`` push of the bot's order for that candle arrives here (the exchange pushes
    it once it has accepted the order).
(b) entry fill → stop resting: the entry's ``execution`` push arrives here → the first
    ``order`` push of its stop (``Untriggered``) arrives here.

Both ends of each figure cross the same kind of socket hop, so that hop mostly cancels.
The raw limits, measured in the same run before the bot starts:

- **raw path (a)**: the bench itself answers each confirmed kline with a pybit
  ``place_order`` on another account and times the same two pushes: socket, REST round
  trip and the exchange, without the listener, Redis or the bot host.
- **REST round trip**: a bare pybit ``place_order`` (a resting limit), one after another.
- **Redis stream hop**: ``XADD`` here → ``XREAD BLOCK`` on another connection and thread
  (the hop a fill takes from the listener to a bot).

(c) ``/pause`` received → the bot's state applied, after the bars, on the now idle
    bots (``bench/pause_reaction.py``): the C2's own code path (audit transaction,
    state key, ``state`` notice) to the bot's ``bot:{id}:state_applied`` record, pause
    and resume alternating; compared with the Redis stream hop above.

Path (b) includes the listener (socket → ledger commit → Redis position and
``fills:{bot}``) and the bot's stream read, so its floor is roughly (a)'s raw path plus
the listener's fill latency (``bench/fill_pipeline.py`` (c)) plus one stream hop.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from bot_stack import (  # bench/bot_stack.py
    BOT,
    HISTORY,
    PLUGIN,
    ROOT,
    SYMBOL,
    Clock,
    RssSampler,
    Watcher,
    cpu_seconds,
    http,
    measure_bots,
    plugin_dir,
    register,
    sockets,
    summary,
    tear_down,
    wait,
    write_market,
)

# --- raw limits ------------------------------------------------------------------------


def raw_rest(session: Any, n: int) -> list[float]:
    """Bare ``place_order`` round trips (a resting limit far below the market)."""
    out = []
    for i in range(n):
        started = time.perf_counter()
        session.place_order(category="linear", symbol=SYMBOL, side="Buy", orderType="Limit",
                            qty="0.001", price="30000", orderLinkId=f"rr-{i}")  # fmt: skip
        out.append(1000 * (time.perf_counter() - started))
        # Not timed; keeps the account under the exchange's 500 open orders.
        session.cancel_order(category="linear", symbol=SYMBOL, orderLinkId=f"rr-{i}")
    return out


def raw_stream_hop(redis_client: Any, reader_client: Any, n: int) -> list[float]:
    """``XADD`` here → the entry returned by a blocked ``XREAD`` on another thread."""
    stream = "bench:hop"
    redis_client.delete(stream)
    sent: dict[str, float] = {}
    got: dict[str, float] = {}
    ready = threading.Event()

    def reader() -> None:
        last = "$"
        ready.set()
        while len(got) < n:
            for _s, entries in reader_client.xread({stream: last}, block=2000) or []:
                now = time.perf_counter()
                for entry_id, _fields in entries:
                    got[entry_id] = now
                    last = entry_id

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    ready.wait()
    time.sleep(0.05)
    for i in range(n):
        started = time.perf_counter()
        entry_id = redis_client.xadd(stream, {"i": str(i)})
        sent[entry_id] = started
        wait(lambda e=entry_id: e in got, 5, "stream hop")
    thread.join(5)
    redis_client.delete(stream)
    return [1000 * (got[e] - sent[e]) for e in sent]


def raw_path(clock: Clock, watcher: Watcher, session: Any, n: int) -> list[float]:
    """Confirmed kline here → our own ``place_order`` → its first ``order`` push here."""
    links: dict[int, str] = {}
    lock = threading.Lock()
    pending: list[int] = []
    wake = threading.Event()

    def on_confirm(start: int) -> None:  # pybit's socket thread: hand off, do not block it
        with lock:
            pending.append(start)
        wake.set()

    def placer() -> None:
        while len(links) < n:
            if not wake.wait(5):
                continue
            wake.clear()
            with lock:
                todo = pending[:]
                pending.clear()
            for start in todo:
                link = f"rp-{start}"
                session.place_order(category="linear", symbol=SYMBOL, side="Buy",
                                    orderType="Limit", qty="0.001", price="30000",
                                    orderLinkId=link)  # fmt: skip
                links[start] = link

    thread = threading.Thread(target=placer, daemon=True)
    watcher.on_confirm = on_confirm
    thread.start()
    out = []
    for _ in range(n):
        start = clock.close_bar()
        wait(lambda s=start: f"rp-{s}" in watcher.first_push, 10, "the raw path's order push")
        out.append(1000 * (watcher.first_push[f"rp-{start}"][0] - watcher.confirmed[start]))
        if len(out) % 400 == 0:  # under the exchange's 500 open orders
            session.cancel_all_orders(category="linear", symbol=SYMBOL)
    watcher.on_confirm = None
    thread.join(5)
    session.cancel_all_orders(category="linear", symbol=SYMBOL)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--candles",
        type=int,
        default=2000,
        help="closed bars the bot trades on; (b) gets about half (default 2000)",
    )
    parser.add_argument("--raw", type=int, default=1000,
                        help="samples of each raw limit (default 1000)")  # fmt: skip
    parser.add_argument("--bots", type=int, default=1,
                        help="bot processes trading on the same account, all acting on"
                        " every candle; (a) and (b) pool their samples (default 1)")  # fmt: skip
    parser.add_argument("--pauses", type=int, default=1000,
                        help="/pause and /resume events for (c) (default 1000)")  # fmt: skip
    args = parser.parse_args()
    if args.candles < 2 or args.raw < 1 or not 1 <= args.bots <= 99:
        parser.error("--candles must be at least 2, --raw at least 1, --bots 1 to 99")

    from fill_pipeline import reference_loop_ms  # bench/fill_pipeline.py

    from paper_exchange.testing import spawn_exchange
    from tests.harness.services import ServiceStack, alpha_command

    # Our socket threads stamp arrivals; with the default 5 ms GIL switch interval a
    # stamp could wait for the main thread's polling or HTTP calls to let go.
    sys.setswitchinterval(0.0002)
    load = os.getloadavg()
    reference_ms = reference_loop_ms()
    stack = ServiceStack.start()
    exchange = listener = None
    bots: list[subprocess.Popen[bytes]] = []
    socks: list[Any] = []
    logs = stack.tmp / "logs"
    logs.mkdir()
    try:
        plugins = plugin_dir(stack.tmp)
        sys.path.insert(0, str(plugins))  # registration validates the config here too
        bars = HISTORY + args.raw + args.candles + 20
        market = write_market(stack.tmp / "BTCUSDT_1.csv", bars)
        exchange = spawn_exchange([
            "--account", "main:main-key:main-secret", "--account", "raw:raw-key:raw-secret",
            "--market", str(market), "--speed", "manual", "--history-minutes", str(HISTORY),
            "--no-rate-limits",
        ])  # fmt: skip
        clock = Clock(exchange.control)
        watcher = Watcher()
        socks = sockets(
            exchange.ws_url, watcher, [("main-key", "main-secret"), ("raw-key", "raw-secret")]
        )
        wait(lambda: exchange.control.state()["subscriptions"].get("raw"), 20, "our sockets")

        # Raw limits first, while nothing else runs.
        raw_session = http(exchange.rest_url, "raw-key", "raw-secret")
        rest = raw_rest(raw_session, args.raw)
        hop = raw_stream_hop(stack.redis(0), stack.redis(0), args.raw)
        path = raw_path(clock, watcher, raw_session, args.raw)

        dbname = stack.create_database()
        ids = {f"{BOT}_{k}": f"f{k:02d}" for k in range(1, args.bots + 1)}
        for bot_id, code in ids.items():
            register(stack, dbname, bot_id, code)
        env = {
            **stack.env(dbname),
            "PYTHONPATH": os.pathsep.join([str(plugins), str(ROOT)]),
            "BYBIT_ENV": "paper",
            "BYBIT_REST_URL": exchange.rest_url,
            "BYBIT_WS_URL": exchange.ws_url,
            "BYBIT_API_KEY": "main-key",
            "BYBIT_API_SECRET": "main-secret",
            "LISTENER_SPOOL_DIR": str(stack.tmp / "spool"),
            "LISTENER_CATCHUP_MARGIN_SECONDS": "60",
            "ALPHA_LOG_LEVEL": "WARNING",
        }

        def spawn(*command: str, profile: str | None = None) -> subprocess.Popen[bytes]:
            from devenv.ports import free_port

            log = open(logs / f"{command[-1]}.log", "w")  # noqa: SIM115
            own = {**env, "ALPHA_HTTP_PORT": str(free_port())}  # /healthz of its own
            alpha = alpha_command()
            if profile is not None:
                alpha = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "core.cli"]
            return subprocess.Popen(
                [*alpha, "run", *command], env=own, cwd=stack.tmp,
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip

        from core import redis_keys

        infra = stack.redis(15)
        listener = spawn("listener")
        wait(lambda: infra.hget(redis_keys.LISTENER_STATUS, "main:connected") == "1"
             or listener.poll() is not None, 60, "the listener")  # fmt: skip
        bot_redis = stack.redis(redis_keys.bot_db(None))
        bots = [spawn("bot", bot_id) for bot_id in ids]
        if os.environ.get("BENCH_CPROFILE"):  # the first bot's decision thread, profiled
            bots[0].terminate()
            bots[0].wait(30)
            bots[0] = spawn("bot", next(iter(ids)), profile=os.environ["BENCH_CPROFILE"])

        def exited() -> int | None:
            for proc in (*bots, listener):
                if proc.poll() is not None:
                    return proc.returncode
            return None

        for bot_id in ids:
            wait(lambda b=bot_id: bot_redis.exists(redis_keys.heartbeat(b)) or exited() is not None,
                 60, f"{bot_id}'s heartbeat")  # fmt: skip
        if exited() is not None:
            raise SystemExit(f"a process exited at start; see {logs}")
        time.sleep(1.0)  # its sockets subscribe after the heartbeat starts
        rss = RssSampler(bots[0].pid)
        time.sleep(0.5)
        idle_kb = rss.samples[-1] if rss.samples else 0

        def position_of(bot_id: str) -> Callable[[], str]:
            key = redis_keys.position(bot_id, SYMBOL)  # type: ignore[arg-type]
            return lambda: bot_redis.hget(key, "qty") or ""

        watched = [(code, position_of(bot_id)) for bot_id, code in ids.items()]
        procs = {"bot (each)": [b.pid for b in bots], "listener": [listener.pid],
                 "paper exchange": [exchange.process.pid]}  # fmt: skip
        cpu_before = {name: [cpu_seconds(p) for p in pids] for name, pids in procs.items()}
        react, protect = measure_bots(clock, watcher, watched, args.candles, exited)
        rss.stop()
        bars = args.candles + 4  # with the uncounted first ones
        cpu = {
            name: 1000
            * statistics.mean(
                cpu_seconds(p) - c for p, c in zip(pids, cpu_before[name], strict=True)
            )
            / bars
            for name, pids in procs.items()
        }
        os.environ.update(env)  # this process's operator path reads the bots' settings
        from pause_reaction import measure_pauses

        from core.config import load_settings

        operator, notice = measure_pauses(load_settings(), bot_redis, list(ids), args.pauses)

        print(f"machine: {os.cpu_count()} CPUs, load average before the run "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; reference Python loop "
              f"{reference_ms:.0f} ms (compare machines by it)")  # fmt: skip
        print(
            f"bots: {args.bots} × 'alpha run bot' (one account, one symbol) with the test "
            f"strategy {PLUGIN} (bench/flip_strategy.py, a plugin): buys on every candle "
            "when flat, stop on the fill, sells when long"
        )
        print(f"(a) candle close → bot's order accepted: {summary(react)}")
        print(f"    raw path (confirmed kline → our own place_order → its push): {summary(path)}")
        print(f"(b) entry fill → protective stop accepted: {summary(protect)}")
        if args.pauses:
            print(f"(c) /pause → state applied, C2's path (audit, state, notice) → bot's "
                  f"record: {summary(operator)}")  # fmt: skip
            print(f"    its notice's XADD → bot's record: {summary(notice)}")
        print("CPU per bar (an order on each, a fill on each, a stop on every other): "
              + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu.items()))  # fmt: skip
        print(f"raw REST round trip (pybit place_order, resting limit): {summary(rest)}")
        print(f"raw Redis stream hop (XADD → blocked XREAD): {summary(hop)}")
        if rss.samples:
            print(f"RSS of the first bot: idle {idle_kb / 1024:.0f} MB, trading peak "
                  f"{max(rss.samples) / 1024:.0f} MB ({len(rss.samples)} samples)")  # fmt: skip
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("reproduce: .venv/bin/python bench/reaction.py " + " ".join(sys.argv[1:]))
    finally:
        tear_down([*bots, listener], socks, exchange, logs, stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
