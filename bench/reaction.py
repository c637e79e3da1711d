"""How fast a bot reacts (issue 19's reaction benchmarks), in one run.

    .venv/bin/python bench/reaction.py [--candles 2000] [--raw 1000]

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

Path (b) includes the listener (socket → ledger commit → Redis position and
``fills:{bot}``) and the bot's stream read, so its floor is roughly (a)'s raw path plus
the listener's fill latency (``bench/fill_pipeline.py`` (c)) plus one stream hop.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for tests.harness

SYMBOL = "BTCUSDT"
MINUTE = 60_000
T0_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
BOT, CODE = "bench_flip", "bf1"
HISTORY = 60
PLUGIN = "benchflip"


def plugin_dir(tmp: Path) -> Path:
    """A directory that, on ``sys.path``, publishes ``bench/flip_strategy.py`` as the
    ``benchflip`` bot type through an ``alpha.bots`` entry point (no install needed)."""
    out = tmp / "bench-plugin"
    info = out / "alpha_bench_flip-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: alpha-bench-flip\nVersion: 0\n")
    (info / "entry_points.txt").write_text(f"[alpha.bots]\n{PLUGIN} = flip_strategy:Flip\n")
    shutil.copy(ROOT / "bench" / "flip_strategy.py", out / "flip_strategy.py")
    return out


def write_market(path: Path, bars: int) -> Path:
    """A flat 60,000 BTCUSDT market, one bar a minute from T0: nothing but the bot moves."""
    rows = ["start,open,high,low,close,volume,turnover"]
    rows += [f"{T0_MS + i * MINUTE},60000,60000,60000,60000,10,600000" for i in range(bars)]
    path.write_text("\n".join(rows) + "\n")
    return path


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def summary(values: list[float]) -> str:
    if not values:
        return "no samples"
    return (
        f"p50 {statistics.median(values):.2f} ms, p99 {pct(values, 0.99):.2f} ms, "
        f"min {min(values):.2f}, max {max(values):.2f} ms (n={len(values)})"
    )


def wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.001)


class Watcher:
    """The bench's own view of the exchange: arrival times (``perf_counter``) of
    confirmed klines and of each order's first push and each execution's push."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.confirmed: dict[int, float] = {}  # bar start (ms) → arrival
        self.first_push: dict[str, tuple[float, str]] = {}  # orderLinkId → (arrival, status)
        self.executed: dict[str, float] = {}  # orderLinkId → first execution's arrival
        self.order_links: list[str] = []  # in order of first push
        self.on_confirm: Callable[[int], None] | None = None

    def kline(self, message: dict[str, Any]) -> None:
        now = time.perf_counter()
        for k in message.get("data", []):
            if k.get("confirm"):
                with self.lock:
                    self.confirmed.setdefault(int(k["start"]), now)
                if self.on_confirm is not None:
                    self.on_confirm(int(k["start"]))

    def order(self, message: dict[str, Any]) -> None:
        now = time.perf_counter()
        with self.lock:
            for o in message.get("data", []):
                link = o.get("orderLinkId") or ""
                if link not in self.first_push:
                    self.first_push[link] = (now, o.get("orderStatus", ""))
                    self.order_links.append(link)

    def execution(self, message: dict[str, Any]) -> None:
        now = time.perf_counter()
        with self.lock:
            for e in message.get("data", []):
                self.executed.setdefault(e.get("orderLinkId") or "", now)


def sockets(ws_url: str, watcher: Watcher, accounts: list[tuple[str, str]]) -> list[Any]:
    from core.exchange.client import AlphaWebSocket

    public = AlphaWebSocket("linear", base_url=ws_url, testnet=False, trace_logging=False)
    public.kline_stream(interval=1, symbol=SYMBOL, callback=watcher.kline)
    out = [public]
    for key, secret in accounts:
        private = AlphaWebSocket(
            "private", base_url=ws_url, testnet=False, api_key=key, api_secret=secret,
            trace_logging=False, private_auth_expire=10,
        )  # fmt: skip
        private.order_stream(watcher.order)
        private.execution_stream(watcher.execution)
        out.append(private)
    return out


def http(rest_url: str, key: str, secret: str) -> Any:
    from pybit.unified_trading import HTTP

    session = HTTP(api_key=key, api_secret=secret, retry_delay=0.05)
    session.endpoint = rest_url
    return session


class Clock:
    """Plays the exchange's manual clock one bar at a time."""

    def __init__(self, control: Any) -> None:
        self.control = control
        self.bar = HISTORY  # index of the forming bar

    def close_bar(self) -> int:
        """Plays the forming bar to its close; its start (ms)."""
        self.control.advance(MINUTE - 1000)
        self.control.advance(1000)
        start = T0_MS + self.bar * MINUTE
        self.bar += 1
        return start


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


# --- the bot ---------------------------------------------------------------------------


def register(stack: Any, dbname: str, bot_id: str = BOT, code: str = CODE) -> None:
    from database import bots as registry

    spec = registry.build_spec(
        bot_id=bot_id, bot_code=code, bot_name=bot_id, bot_type=PLUGIN, strategy_name=PLUGIN,
        account="main", redis_db=None, symbols=SYMBOL, mode="paper",
        config=json.dumps({"interval": "1", "symbols": [SYMBOL]}), initial_capital="10000",
    )  # fmt: skip
    with stack.connect(dbname, "owner", direct=True) as conn:
        registry.register(conn, spec)
        conn.commit()


def measure_bot(
    clock: Clock,
    watcher: Watcher,
    position: Callable[[], str],
    candles: int,
    alive: Callable[[], Any],
    code: str = CODE,
) -> tuple[list[float], list[float]]:
    """(a) and (b) of one bot: :func:`measure_bots` with one."""
    return measure_bots(clock, watcher, [(code, position)], candles, alive)


def measure_bots(
    clock: Clock,
    watcher: Watcher,
    bots: list[tuple[str, Callable[[], str]]],
    candles: int,
    alive: Callable[[], Any],
) -> tuple[list[float], list[float]]:
    """(a) and (b) of every bot (its link-id code, its position's ``qty``) over
    ``candles`` closed bars; the first few (the bots' sockets settling) are played but not
    counted. ``alive()`` is not ``None`` once a bot process has exited."""
    react: list[float] = []
    protect: list[float] = []
    seen = len(watcher.order_links)
    done_stops: set[str] = set()
    warm = 4
    for i in range(candles + warm):
        if alive() is not None:
            raise SystemExit("a bot process died; see its log")
        start = clock.close_bar()
        # Our kline socket's thread may run after a bot's order push under load.
        wait(lambda s=start: s in watcher.confirmed, 20, f"the kline of bar {start}")
        for code, position in bots:

            def new_link(after: int = seen, code: str = code) -> str | None:
                with watcher.lock:
                    for link in watcher.order_links[after:]:
                        if link.startswith(f"{code}-"):
                            return link
                return None

            link = wait(new_link, 20 if i >= warm else 60, f"{code}'s order on bar {start}")
            if i >= warm:
                react.append(1000 * (watcher.first_push[link][0] - watcher.confirmed[start]))
            if f"{code}-en-" in link:
                wait(lambda lk=link: lk in watcher.executed, 10, "the entry's execution")

                def stop_link(code: str = code) -> str | None:
                    with watcher.lock:
                        for other in watcher.order_links:
                            if other.startswith(f"{code}-sl-") and other not in done_stops:
                                return other
                    return None

                stop = wait(stop_link, 10, f"{code}'s protective stop")
                done_stops.add(stop)
                if i >= warm:
                    protect.append(1000 * (watcher.first_push[stop][0] - watcher.executed[link]))
            else:  # an exit: the bot must see itself flat before the next bar
                wait(lambda lk=link: lk in watcher.executed, 10, "the exit's execution")
                wait(lambda p=position: p() in ("", "0"), 10, f"{code} to be flat")
        seen = len(watcher.order_links)
    return react, protect


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far (``/proc/PID/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        self.samples.append(int(line.split()[1]))
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


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
    args = parser.parse_args()
    if args.candles < 2 or args.raw < 1 or not 1 <= args.bots <= 99:
        parser.error("--candles must be at least 2, --raw at least 1, --bots 1 to 99")

    from paper_exchange.testing import spawn_exchange
    from tests.harness.services import ServiceStack, alpha_command

    # Our socket threads stamp arrivals; with the default 5 ms GIL switch interval a
    # stamp could wait for the main thread's polling or HTTP calls to let go.
    sys.setswitchinterval(0.0002)
    load = os.getloadavg()
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

        print(f"machine: {os.cpu_count()} CPUs, load average before the run "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
        print(
            f"bots: {args.bots} × 'alpha run bot' (one account, one symbol) with the test "
            f"strategy {PLUGIN} (bench/flip_strategy.py, a plugin): buys on every candle "
            "when flat, stop on the fill, sells when long"
        )
        print(f"(a) candle close → bot's order accepted: {summary(react)}")
        print(f"    raw path (confirmed kline → our own place_order → its push): {summary(path)}")
        print(f"(b) entry fill → protective stop accepted: {summary(protect)}")
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
        for proc in (*bots, listener):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for s in socks:
            s.exit()
        if exchange is not None:
            exchange.stop()
        if os.environ.get("BENCH_KEEP_LOGS"):
            shutil.copytree(logs, os.environ["BENCH_KEEP_LOGS"], dirs_exist_ok=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
