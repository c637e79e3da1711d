"""Fifty bots on one host (issue 19's fleet benchmark), in one run.

    .venv/bin/python bench/fleet.py [--bots 50] [--accounts 3] [--bars 20] [--pauses 1000]
                                    [--fills 5000] [--rate 1000] [--idle 10]

Everything as deployed, each its own process: the paper exchange (manual clock, a
replayed BTCUSDT market), one ``alpha run listener`` for every account, and ``--bots``
``alpha run bot`` processes over this run's PostgreSQL database, PgBouncer and Redis
(the test harness starts them; nothing shared is touched). Every bot is registered
without ``--redis-db``: all their keys live in the shared database 0.

The fleet: 40 % production bots — ``shortseller``, ``lxalgo``, ``momentum`` and
``orderblock`` in turn, each with its production defaults except ``symbols``
(BTCUSDT: the one market the exchange replays) — and 60 % ``benchflip`` bots
(``bench/flip_strategy.py``), which act on every closed 1-minute candle: so one bar makes
every one of them send an order at the same moment, and every other bar a fill and a
protective stop each. Bots are spread over ``--accounts`` exchange accounts in turn.

Measured, in this order:

1. **start-up**: all bots started at once; the time from the spawn to each bot's first
   heartbeat (it has registered, fetched instruments, warmed up, adopted, subscribed);
2. **memory** of every bot from ``/proc/PID/smaps_rollup``: RSS (counts the shared
   libraries in full in every process), PSS (shared pages divided among the processes
   mapping them: the sum over the bots is what they take from the host together) and
   private pages (what one more bot adds). Idle, and again after trading. And each
   bot's memory cgroup (``bench/memory_cgroups.py``: every bot is started in its own,
   as in its own container), where the kernel charges each page once, to the bot that
   first brought it in: the per-container figure a memory limit is enforced on.
   With ``--containers IMAGE`` every bot runs in its own Docker container instead
   (``bench/bot_containers.py``: as compose starts it), and the figures are read from
   the containers' own cgroups, beside ``docker stats`` and the memory of the runtime's
   processes that serve each container from outside it;
3. **CPU at idle**: every bot connected, no bar, over ``--idle`` seconds;
4. **a market move**: ``--bars`` closed bars played one at a time, each answered by every
   ``benchflip`` bot at once; (a) candle close → order accepted and (b) entry fill →
   stop accepted for every one of them (``bench/bot_stack.measure_bots``), and the CPU
   of that window;
5. **/pause → applied** on the idle fleet (``bench/pause_reaction.py``), against the raw
   Redis stream hop measured in the same run;
6. **the listener's per-fill latency at ``--rate`` fills/s** with every bot connected, the
   method of ``bench/fill_pipeline.py`` (c): synthetic executions of a registered bot
   that does not run, from the exchange's emission to the ``fills:{bot}`` entry. The
   bench's own sockets are closed first: the listener is then the only subscriber to
   the executions, as in production.
7. **the same with every bot stopped**, right after and in the same run: the listener's
   own latency on this machine at this moment, to set the fleet's figure against.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import bot_containers  # bench/bot_containers.py
import bot_stack  # bench/bot_stack.py
from bot_stack import HISTORY, MINUTE, PLUGIN, ROOT, SYMBOL, T0_MS, summary, wait
from memory_cgroups import MemoryCgroups, charged  # bench/memory_cgroups.py

PRODUCTION = ("shortseller", "lxalgo", "momentum", "orderblock")
SINK, SINK_CODE = "fleet_sink", "snk"  # registered, never started: (c)'s fills go here


def fleet(n: int, accounts: list[str]) -> list[tuple[str, str, str, str]]:
    """(bot id, link code, type, account) of ``n`` bots: 40 % production types in turn,
    the rest ``benchflip``."""
    production = (2 * n) // 5
    out = []
    for i in range(n):
        kind = PRODUCTION[i % len(PRODUCTION)] if i < production else PLUGIN
        out.append((f"fleet_{i:03d}", f"q{i:03d}", kind, accounts[i % len(accounts)]))
    return out


def market(path: Path, bars: int) -> Path:
    """Flat at 60,000 but for a move: a slide of 0.5 % a bar for 10 bars starting at
    bar ``HISTORY + 8``, then flat at the new level (the benchflip bots' stops, 10 %
    below, never trigger)."""
    rows = ["start,open,high,low,close,volume,turnover"]
    price = 60000.0
    for i in range(bars):
        opened = price
        if HISTORY + 8 <= i < HISTORY + 18:
            price *= 0.995
        lo, hi = min(opened, price), max(opened, price)
        rows.append(f"{T0_MS + i * MINUTE},{opened:.1f},{hi:.1f},{lo:.1f},{price:.1f},10,600000")
    path.write_text("\n".join(rows) + "\n")
    return path


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += bot_stack.cpu_seconds(pid)
        except OSError:
            pass
    return total


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy since boot (``/proc/stat``: every
    state but idle and iowait), summed over its CPUs."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def mem_available() -> float:
    """MB the kernel says could be allocated now (``MemAvailable``)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no MemAvailable in /proc/meminfo")


def memory_table(pids: dict[str, int]) -> dict[str, dict[str, float]]:
    return {bot_id: bot_stack.memory(pid) for bot_id, pid in pids.items()}


def cgroup_table(pids: dict[str, int], measured: bool) -> dict[str, dict[str, float]]:
    return {bot_id: charged(pid) for bot_id, pid in pids.items()} if measured else {}


def cgroup_line(table: dict[str, dict[str, float]], unmeasured: str, where: str) -> None:
    if unmeasured:
        print(f"    per container (a memory cgroup per bot): not measured here: {unmeasured}")
        return
    sums = {k: sum(m[k] for m in table.values()) for k in ("usage", "anon", "file")}
    print(f"    per container ({where}; "
          f"each page charged once, to the bot that first brought it in): summed "
          f"{sums['usage']:.0f} MB ({sums['anon']:.0f} MB anonymous, {sums['file']:.0f} MB "
          f"file pages); per bot median "
          f"{statistics.median(m['usage'] for m in table.values()):.1f} MB")  # fmt: skip


def runtime_memory(bots: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Summed memory of each container's ``docker-init`` and containerd shim: what the
    host spends per container outside its cgroup."""
    out: dict[str, dict[str, float]] = {}
    for bot in bots.values():
        for name, pid in (("docker-init", bot.init_pid), ("containerd shims", bot.shim_pid)):
            sums = out.setdefault(name, {"rss": 0.0, "pss": 0.0, "private": 0.0})
            for k, v in bot_stack.memory(pid).items():
                sums[k] += v
    return out


def docker_stats(bots: dict[str, Any]) -> dict[str, float]:
    """MB (MiB, as every figure here) ``docker stats`` shows for each bot's container."""
    names = [bot.name for bot in bots.values()]
    template = "{{.Name}} {{.MemUsage}}"
    argv = [bot_containers.DOCKER, "stats", "--no-stream", "--format", template, *names]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=120).stdout
    units = {"B": 1 / 1024**2, "KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0}  # to MiB, as ours
    stats = {}
    for line in out.splitlines():
        name, used = line.split()[:2]
        number = used.rstrip("BKMGi")
        stats[name] = float(number) * units[used[len(number) :]]
    return stats


def memory_lines(label: str, table: dict[str, dict[str, float]], kinds: dict[str, str]) -> None:
    sums = {k: sum(m[k] for m in table.values()) for k in ("rss", "pss", "private")}
    print(f"memory {label}, {len(table)} bots: summed RSS {sums['rss']:.0f} MB, summed PSS "
          f"{sums['pss']:.0f} MB, summed private {sums['private']:.0f} MB")  # fmt: skip
    for kind in sorted(set(kinds.values())):
        rows = [table[b] for b in table if kinds[b] == kind]
        print(f"    {kind:11} ×{len(rows):2}: per bot median RSS "
              f"{statistics.median(r['rss'] for r in rows):.1f} MB, PSS "
              f"{statistics.median(r['pss'] for r in rows):.1f} MB, private "
              f"{statistics.median(r['private'] for r in rows):.1f} MB")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=50, help="bot processes (default 50)")
    parser.add_argument("--accounts", type=int, default=3, help="exchange accounts (default 3)")
    parser.add_argument("--bars", type=int, default=20,
                        help="bars of the market move, each answered by every benchflip bot"
                        " (default 20)")  # fmt: skip
    parser.add_argument("--pauses", type=int, default=1000, help="/pause events (default 1000)")
    parser.add_argument("--fills", type=int, default=5000, help="fills for the listener's"
                        " latency at --rate (default 5000)")  # fmt: skip
    parser.add_argument("--rate", type=int, default=1000, help="fills/s (default 1000)")
    parser.add_argument("--latency-csv", type=Path, metavar="FILE",
                        help="write each of 6.'s and 7.'s fills (phase, emission time, "
                        "latency) here, to see when the slow ones came")  # fmt: skip
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU (default 10)")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="seconds after the last bot is up before measuring (default 30):"
                        " start-up's CPU must be over")  # fmt: skip
    parser.add_argument("--arena-max", type=int, default=None, metavar="N",
                        help="start the bots with MALLOC_ARENA_MAX=N")  # fmt: skip
    parser.add_argument("--containers", metavar="IMAGE",
                        help="run every bot in its own Docker container of IMAGE, as compose"
                        " does (alpha-bots:rehearsal, which scripts/rehearse builds); the"
                        " engine must be running")  # fmt: skip
    parser.add_argument("--health-interval", type=float, metavar="SECONDS",
                        help="with --containers: seconds between each container's health"
                        " checks (default: the image's, 15 s; 0: none)")  # fmt: skip
    parser.add_argument("--bots-nice", type=int, default=0, metavar="N",
                        help="run the bots at nice N (0-19), the listener and the exchange"
                        " at 0: the CPU priority compose's cpu_shares gives containers"
                        " (default 0)")  # fmt: skip
    args = parser.parse_args()
    if args.bots < 1 or args.accounts < 1 or args.bars < 2:
        parser.error("--bots and --accounts at least 1, --bars at least 2")
    if not 0 <= args.bots_nice <= 19:
        parser.error("--bots-nice takes 0 to 19")
    if args.containers and (args.bots_nice or args.arena_max is not None):
        parser.error("--bots-nice and --arena-max apply to bot processes, not --containers")
    if args.health_interval is not None and (not args.containers or args.health_interval < 0):
        parser.error("--health-interval takes seconds (0 or more) and needs --containers")
    if args.containers and (why := bot_containers.unavailable(args.containers)):
        parser.error(f"--containers: {why}")

    import fill_pipeline  # bench/fill_pipeline.py: (c)'s measurement
    from pause_reaction import measure_pauses
    from reaction import raw_stream_hop

    from core import redis_keys
    from devenv.ports import free_port_below_ephemeral
    from paper_exchange.testing import spawn_exchange
    from tests.harness.services import ServiceStack

    sys.setswitchinterval(0.0002)  # our socket threads stamp arrivals (as reaction.py)
    load = os.getloadavg()
    reference_ms = fill_pipeline.reference_loop_ms()
    # Without --containers, each bot process in a memory cgroup of the bench's own
    # (opened in the try below, so that a failed start removes it).
    cgroups = MemoryCgroups(None)
    stack = ServiceStack.start()
    exchange = listener = None
    bots: dict[str, Any] = {}  # Popen, or bot_containers.Container
    shared_plugins: Path | None = None
    socks: list[Any] = []
    logs = stack.tmp / "logs"
    logs.mkdir()
    try:
        if not args.containers:
            cgroups = MemoryCgroups.open(f"alpha-fleet-{os.getpid()}")
        plugins = bot_stack.plugin_dir(stack.tmp)
        if args.containers:
            shared_plugins = bot_containers.readable_copy(plugins)
        sys.path.insert(0, str(plugins))  # registration validates the config here too
        names = ["main", *(f"acct{k}" for k in range(2, args.accounts + 1))]
        keys = {name: (f"{name}-key", f"{name}-secret") for name in names}
        path = market(stack.tmp / "BTCUSDT_1.csv", HISTORY + args.bars + 60)
        accounts = [f"--account={n}:{k}:{s}:1000000" for n, (k, s) in keys.items()]
        exchange = spawn_exchange([
            *accounts, "--market", str(path), "--speed", "manual",
            "--history-minutes", str(HISTORY), "--no-rate-limits",
        ])  # fmt: skip
        clock = bot_stack.Clock(exchange.control)
        watcher = bot_stack.Watcher()
        socks = bot_stack.sockets(exchange.ws_url, watcher, list(keys.values()))

        dbname = stack.create_database()
        members = fleet(args.bots, names)
        kinds = {bot_id: kind for bot_id, _c, kind, _a in members}
        for bot_id, code, kind, account in members:
            config = None if kind == PLUGIN else {"symbols": [SYMBOL]}
            bot_stack.register(stack, dbname, bot_id, code, bot_type=kind, account=account,
                               config=config)  # fmt: skip
        bot_stack.register(stack, dbname, SINK, SINK_CODE)
        env = {
            **stack.env(dbname),
            "PYTHONPATH": os.pathsep.join([str(plugins), str(ROOT)]),
            "BYBIT_ENV": "paper",
            "BYBIT_REST_URL": exchange.rest_url,
            "BYBIT_WS_URL": exchange.ws_url,
            "LISTENER_SPOOL_DIR": str(stack.tmp / "spool"),
            "LISTENER_CATCHUP_MARGIN_SECONDS": "60",
            "ALPHA_LOG_LEVEL": "WARNING",
        }
        for name, (key, secret) in keys.items():
            env[f"BYBIT_ACCOUNT_{name.upper()}_API_KEY"] = key
            env[f"BYBIT_ACCOUNT_{name.upper()}_API_SECRET"] = secret
        os.environ.update(env)  # this process's operator path (pause) reads the same settings
        from core.config import load_settings

        settings = load_settings()
        infra, shared = stack.redis(15), stack.redis(redis_keys.bot_db(None))

        listener = bot_stack.spawn_alpha(env, logs, stack.tmp, "listener")
        wait(lambda: all(infra.hget(redis_keys.LISTENER_STATUS, f"{n}:connected") == "1"
                         for n in names) or listener.poll() is not None,
             60, "the listener on every account")  # fmt: skip

        def exited() -> int | None:
            for proc in (*bots.values(), listener):
                if proc is not None and proc.poll() is not None:
                    return proc.returncode
            return None

        # 1. start-up, all at once
        extra = {} if args.arena_max is None else {"MALLOC_ARENA_MAX": str(args.arena_max)}
        available_before = mem_available()
        spawned = time.monotonic()
        for bot_id in kinds:
            if shared_plugins is not None:
                port = {"ALPHA_HTTP_PORT": str(free_port_below_ephemeral())}  # host network
                bots[bot_id] = bot_containers.Container(
                    args.containers,
                    f"alpha-fleet-{os.getpid()}-{bot_id}",
                    bot_id,
                    {**env, **port},
                    shared_plugins,
                    args.health_interval,
                )
                continue
            bots[bot_id] = bot_stack.spawn_alpha(env, logs, stack.tmp, "bot", bot_id, extra=extra,
                                                 wrap=partial(cgroups.command, bot_id))  # fmt: skip
            if args.bots_nice:  # before the bot has finished importing: all its threads
                os.setpriority(os.PRIO_PROCESS, bots[bot_id].pid, args.bots_nice)
        up: dict[str, float] = {}
        while len(up) < len(bots):
            if exited() is not None:
                raise SystemExit(f"a process exited at start; see {logs}")
            if time.monotonic() - spawned > 60 + 5 * len(bots):
                raise SystemExit(f"bots not up: {sorted(set(bots) - set(up))}; see {logs}")
            for bot_id in bots:
                if bot_id not in up and shared.exists(redis_keys.heartbeat(bot_id)):  # type: ignore[arg-type]
                    up[bot_id] = time.monotonic() - spawned
            time.sleep(0.05)
        time.sleep(args.settle)  # sockets subscribed, start-up's CPU over
        taken = available_before - mem_available()
        pids = {bot_id: proc.pid for bot_id, proc in bots.items()}
        idle_memory = memory_table(pids)
        measured = bool(args.containers) or cgroups.parent is not None
        idle_cgroups = cgroup_table(pids, measured)
        runtime: dict[str, dict[str, float]] = {}
        stats: dict[str, float] = {}
        if args.containers:
            runtime = runtime_memory(bots)
            stats = docker_stats(bots)
        load_idle = os.getloadavg()

        # 3. CPU at idle
        others = {"listener": [listener.pid], "paper exchange": [exchange.process.pid]}
        before = {"bots": cpu_of(list(pids.values())),
                  **{k: cpu_of(v) for k, v in others.items()}}  # fmt: skip
        machine_before = machine_busy()
        time.sleep(args.idle)
        idle_cpu = {k: 100 * (cpu_of(list(pids.values()) if k == "bots" else others[k]) - v)
                    / args.idle for k, v in before.items()}  # fmt: skip
        idle_machine = machine_busy() - machine_before

        # 4. the market move
        flips = [(code, bot_id) for bot_id, code, kind, _a in members if kind == PLUGIN]

        def position_of(bot_id: str) -> Callable[[], str]:
            key = redis_keys.position(bot_id, SYMBOL)  # type: ignore[arg-type]
            return lambda: str(shared.hget(key, "qty") or "")

        watched = [(code, position_of(bot_id)) for code, bot_id in flips]
        load_move = os.getloadavg()
        before = {"bots": cpu_of(list(pids.values())),
                  **{k: cpu_of(v) for k, v in others.items()}}  # fmt: skip
        move_started = time.monotonic()
        react, protect = bot_stack.measure_bots(clock, watcher, watched, args.bars, exited)
        move_seconds = time.monotonic() - move_started
        move_cpu = {k: 100 * (cpu_of(list(pids.values()) if k == "bots" else others[k]) - v)
                    / move_seconds for k, v in before.items()}  # fmt: skip
        played = args.bars + 4  # measure_bots plays 4 uncounted bars first
        per_bar = {k: 10 * v * move_seconds / played for k, v in move_cpu.items()}  # ms
        production_orders = sum(
            1 for link in watcher.order_links
            if any(link.startswith(f"{c}-") for _b, c, kind, _a in members if kind != PLUGIN)
        )  # fmt: skip
        trading_memory = memory_table(pids)
        trading_cgroups = cgroup_table(pids, measured)

        # 5. /pause on the idle fleet, and the raw stream hop of the same run
        load_pause = os.getloadavg()
        pause_targets = [bot_id for bot_id, _c, _k, _a in members]
        operator, notice = measure_pauses(settings, shared, pause_targets, args.pauses)
        hop = raw_stream_hop(stack.redis(0), stack.redis(0), args.pauses)

        # 6. the listener's per-fill latency with every bot connected. The bench's own
        # sockets go first: subscribed to every account's executions, they would make
        # the exchange emit each fill twice and this process parse a thousand pushes a
        # second on the same two cores; nothing in production listens beside the listener.
        for sock in socks:
            sock.exit()
        socks.clear()
        load_fills = os.getloadavg()
        stream = redis_keys.fills_stream(SINK)  # type: ignore[arg-type]
        shared.xadd(stream, {"bench": "start"})  # (c) reads from the stream's last id
        spec = argparse.Namespace(latency_fills=args.fills, rate=args.rate)
        emitted, seen = fill_pipeline._measure_latency(
            exchange, shared, stream, spec, f"{SINK_CODE}-en-"
        )
        fills = [1000 * (seen[e] - emitted[e]) for e in emitted if e in seen]
        csv_rows = [f"fleet,{row}" for row in fill_pipeline.latency_rows(emitted, seen)]
        if exited() is not None:
            raise SystemExit(f"a process exited during the run; see {logs}")

        # 7. the same fills with the fleet stopped: what fifty connected bots cost the
        # listener, as against this machine at this moment (its own limit, same run)
        for proc in bots.values():
            proc.terminate()
        for proc in bots.values():
            proc.wait(30)
        time.sleep(args.idle)
        load_alone = os.getloadavg()
        emitted, seen = fill_pipeline._measure_latency(
            exchange, shared, stream, spec, f"{SINK_CODE}-al-"
        )
        alone = [1000 * (seen[e] - emitted[e]) for e in emitted if e in seen]
        csv_rows += [f"alone,{row}" for row in fill_pipeline.latency_rows(emitted, seen)]
        if args.latency_csv is not None:
            args.latency_csv.write_text(
                "phase,exec_id,emitted_unix,latency_ms\n" + "".join(f"{r}\n" for r in csv_rows)
            )

        starts = sorted(up.values())
        print(f"machine: {os.cpu_count()} CPUs, load average before the run "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; reference Python loop "
              f"{reference_ms:.0f} ms (compare machines by it)")  # fmt: skip
        counts = {k: list(kinds.values()).count(k) for k in sorted(set(kinds.values()))}
        health = (
            "the image's"
            if args.health_interval is None
            else "none"
            if args.health_interval == 0
            else f"every {args.health_interval:g} s"
        )
        print(f"fleet: {args.bots} 'alpha run bot' "
              + (f"containers of {args.containers} (health checks: {health})"
                 if args.containers else "processes")
              + f" on {len(names)} accounts, all "
              f"in the shared Redis database: "
              + ", ".join(f"{k} ×{v}" for k, v in counts.items())
              + "; one 'alpha run listener'; the paper exchange")  # fmt: skip
        print(f"start-up, all spawned at once: first heartbeat after {starts[0]:.1f} s, median "
              f"{statistics.median(starts):.1f} s, last {starts[-1]:.1f} s")  # fmt: skip
        memory_lines("idle (every bot connected)", idle_memory, kinds)
        where = (
            "each bot's Docker container, read from its memory cgroup"
            if args.containers
            else "each bot in its own memory cgroup, as in its own container"
        )
        cgroup_line(idle_cgroups, cgroups.reason, where)
        if args.containers:
            print(f"    docker stats, summed over the {len(stats)} containers: "
                  f"{sum(stats.values()):.0f} MB (median {statistics.median(stats.values()):.1f}"
                  " MB; it counts a container's active page cache too)")  # fmt: skip
            print("    the runtime's processes serving the containers from outside them, "
                  "summed: " + "; ".join(
                      f"{k} RSS {v['rss']:.0f} MB, PSS {v['pss']:.0f} MB, private "
                      f"{v['private']:.0f} MB" for k, v in runtime.items()))  # fmt: skip
        memory_lines(f"after the move ({args.bars} bars)", trading_memory, kinds)
        cgroup_line(trading_cgroups, cgroups.reason, where)
        print("    what the host needs for the bots: the summed PSS (shared pages counted "
              "once over the fleet); summed RSS counts them once per bot. Cross-check: "
              f"MemAvailable fell by {taken:.0f} MB from before the spawn to after the "
              "settle (the whole machine: other users' processes move it too)")  # fmt: skip
        print(f"CPU at idle ({args.idle:.0f} s after a {args.settle:.0f} s settle; load "
              f"average at its start {load_idle[0]:.2f}; % of one core): "
              + ", ".join(f"{k} {v:.1f} %" for k, v in idle_cpu.items())
              + f"; the whole machine {100 * idle_machine / args.idle:.1f} % (every process:"
              " the services, health checks, the container runtime)")  # fmt: skip
        print(f"market move: {args.bars} bars in {move_seconds:.1f} s, each answered by "
              f"{len(flips)} benchflip bots at once (load average at its start "
              f"{load_move[0]:.2f}); CPU (% of one core): "
              + ", ".join(f"{k} {v:.1f} %" for k, v in move_cpu.items())
              + f"; orders from the production bots: {production_orders}")  # fmt: skip
        print("  CPU per bar (ms): " + ", ".join(f"{k} {v:.0f}" for k, v in per_bar.items())
              + f"; spread over {os.cpu_count()} cores the bots' share alone takes "
              f"{per_bar['bots'] / (os.cpu_count() or 1):.0f} ms: the last bot to act"
              " waits about that long for a core")  # fmt: skip
        print(f"  (a) candle close → order accepted, every benchflip bot: {summary(react)}")
        print(f"  (b) entry fill → stop accepted: {summary(protect)}")
        print(f"/pause → applied, idle fleet, round robin over {len(pause_targets)} bots (load "
              f"average at its start {load_pause[0]:.2f}):")  # fmt: skip
        print(f"    operator action (audit transaction, state, notice) → applied: "
              f"{summary(operator)}")  # fmt: skip
        print(f"    notice XADD → applied: {summary(notice)}")
        print(f"    raw Redis stream hop (XADD → blocked XREAD): {summary(hop)}")
        print(f"listener per-fill latency at {args.rate} fills/s with {args.bots} bots "
              f"connected (exchange emits → fills:{{bot}} entry seen; load average at its "
              f"start {load_fills[0]:.2f}): {summary(fills)}")  # fmt: skip
        print(f"    the same right after, every bot stopped (load average {load_alone[0]:.2f}): "
              f"{summary(alone)}")  # fmt: skip
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("reproduce: .venv/bin/python bench/fleet.py " + " ".join(sys.argv[1:]))
    finally:
        containers = [b for b in bots.values() if isinstance(b, bot_containers.Container)]
        bot_containers.stop(containers, logs)  # their logs go before the services' files
        bot_stack.tear_down([*bots.values(), listener], socks, exchange, logs, stack)
        cgroups.remove()
        if shared_plugins is not None:
            shutil.rmtree(shared_plugins.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
