"""The pieces ``bench/reaction.py``, ``bench/fleet.py`` and ``bench/bot_memory.py`` share:
a flat market, the ``benchflip`` test strategy published as a plugin, the bench's own
view of the exchange (pybit sockets stamping arrivals), the exchange's clock played one
bar at a time, the loop that times each bot's orders and stops over many bars, and the
teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
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


# --- the bot ---------------------------------------------------------------------------


def register(
    stack: Any,
    dbname: str,
    bot_id: str = BOT,
    code: str = CODE,
    *,
    bot_type: str = PLUGIN,
    account: str = "main",
    config: dict[str, Any] | None = None,
) -> None:
    """Registers a bot without ``--redis-db`` (its keys in the shared database); the
    default is a ``benchflip`` bot on 1-minute BTCUSDT candles."""
    from database import bots as registry

    chosen = {"interval": "1", "symbols": [SYMBOL]} if config is None else config
    spec = registry.build_spec(
        bot_id=bot_id, bot_code=code, bot_name=bot_id, bot_type=bot_type,
        strategy_name=bot_type, account=account, redis_db=None, symbols=SYMBOL, mode="paper",
        config=json.dumps(chosen), initial_capital="10000",
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


def spawn_alpha(
    env: dict[str, str],
    logs: Path,
    cwd: Path,
    *command: str,
    extra: dict[str, str] | None = None,
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> Any:
    """``alpha run …`` as its own process with its own ``/healthz`` port, logging to
    ``logs/<last word>.log``; ``wrap`` may prefix the command line (the process keeps
    its pid: the prefix must ``exec`` it)."""
    from devenv.ports import free_port_below_ephemeral
    from tests.harness.services import alpha_command

    argv = [*alpha_command(), "run", *command]
    with (logs / f"{command[-1]}.log").open("w") as log:
        own = {**env, "ALPHA_HTTP_PORT": str(free_port_below_ephemeral()), **(extra or {})}
        return subprocess.Popen(
            wrap(argv) if wrap is not None else argv, env=own, cwd=cwd,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip


def memory(pid: int) -> dict[str, float]:
    """MB of the process's ``Rss``, ``Pss`` (shared pages divided among the processes
    mapping them) and private pages (``Private_Clean`` + ``Private_Dirty``: what one more
    bot adds when the shared libraries are already mapped by others)."""
    kb: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        kb[name] = int(value.split()[0])
    return {
        "rss": kb["Rss"] / 1024,
        "pss": kb["Pss"] / 1024,
        "private": (kb["Private_Clean"] + kb["Private_Dirty"]) / 1024,
    }


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


def tear_down(
    processes: Iterable[Any], socks: list[Any], exchange: Any, logs: Path, stack: Any
) -> None:
    """Stops what a bench started: its ``alpha`` processes (all asked at once, each killed
    after 20 s), its sockets, the exchange, then the services; with ``BENCH_KEEP_LOGS``
    set, the processes' logs are copied there first."""
    running = [p for p in processes if p is not None and p.poll() is None]
    for proc in running:
        proc.terminate()
    for proc in running:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for sock in socks:
        sock.exit()
    if exchange is not None:
        exchange.stop()
    if os.environ.get("BENCH_KEEP_LOGS"):  # logs and module lists, before they go
        shutil.copytree(logs, os.environ["BENCH_KEEP_LOGS"], dirs_exist_ok=True)
    stack.stop()
