"""What one bot process costs in memory, before and after this branch's import diet.

    .venv/bin/python bench/bot_memory.py [--before 7d18f5b] [--candles 200]

Runs ``alpha run bot`` (the real entry, its own process) twice in one run, on the same
services, exchange and listener: once from a copy of the source tree at ``--before``
(``git archive``), once from this tree. For each it prints

- **idle RSS**: ``VmRSS`` after start-up (registration, instruments, warm-up, sockets
  subscribed, heartbeat written), the median of 2 s of samples;
- **trading RSS**: the peak over ``--candles`` closed bars on which the bot trades (the
  ``benchflip`` test strategy of ``bench/bot_stack.py``: an order on every bar, a stop on
  every entry fill), sampled every 100 ms;
- ``Rss``, ``Pss`` and private pages from ``/proc/PID/smaps_rollup`` at the end of each
  phase: RSS counts the shared libraries (libpython, OpenSSL, libpq) in full in every
  process; a host of many bots pays them once, so the private figure is what each
  further bot adds and PSS its fair share;
- the number of modules the process had loaded when it stopped (``sys.modules``,
  written at exit by a ``sitecustomize`` on its path) and which heavy packages were
  among them;
- **the floor**, the raw limit of the same path: a plain Python process that imports
  every module the "after" bot had loaded except Alpha's own (the libraries and the
  standard library, with the character-set detectors kept out as ``alpha run bot``
  does) and does nothing else. No change to Alpha's code can take a bot below it.

Starts its own PostgreSQL roles/database, PgBouncer and Redis (the test harness) on the
machine's PostgreSQL, the paper exchange and ``alpha run listener`` as processes;
nothing shared is modified.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bot_stack  # bench/bot_stack.py: plugin, market, clock, watcher, the trading loop

ROOT = bot_stack.ROOT
HEAVY = ("sqlalchemy", "alembic", "matplotlib", "numpy", "aiohttp", "telegram", "apscheduler")
DUMP_AT_EXIT = (
    "import atexit, os, sys\n"
    "atexit.register(lambda: open(os.environ['IMPORTS_DUMP'], 'w')"
    ".write('\\n'.join(sorted(n for n, m in sys.modules.items() if m is not None))))\n"
)


def source_tree(rev: str, into: Path) -> Path:
    """The repository's files at ``rev`` (committed state only)."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_one(
    label: str,
    tree: Path,
    *,
    stack: Any,
    dbname: str,
    env: dict[str, str],
    clock: bot_stack.Clock,
    watcher: bot_stack.Watcher,
    candles: int,
    logs: Path,
    extra_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    from core import redis_keys
    from devenv.ports import free_port

    bot_id, code = f"mem_{label}", f"m{label[0]}1"
    bot_stack.register(stack, dbname, bot_id, code)
    site = logs / f"site-{label}"
    site.mkdir()
    (site / "sitecustomize.py").write_text(DUMP_AT_EXIT)
    dump = logs / f"modules-{label}.txt"
    own = {
        **env,
        "PYTHONPATH": os.pathsep.join([str(site), env["PYTHONPATH"], str(tree)]),
        "IMPORTS_DUMP": str(dump),
        "ALPHA_HTTP_PORT": str(free_port()),
        **(extra_env or {}),
    }
    bot_redis = stack.redis(redis_keys.bot_db(None))
    with (logs / f"bot-{label}.log").open("w") as log:
        bot = subprocess.Popen(
            [sys.executable, "-m", "core.cli", "run", "bot", bot_id], env=own, cwd=stack.tmp,
            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
        )  # fmt: skip
    try:
        bot_stack.wait(
            lambda: bot_redis.exists(redis_keys.heartbeat(bot_id)) or bot.poll() is not None,
            60, f"the {label} bot's heartbeat",
        )  # fmt: skip
        if bot.poll() is not None:
            raise SystemExit(f"the {label} bot exited at start; see {logs}")
        time.sleep(2.0)  # sockets subscribed, first beats written
        rss = bot_stack.RssSampler(bot.pid)
        time.sleep(2.0)
        idle = statistics.median(rss.samples) / 1024
        idle_detail = bot_stack.memory(bot.pid)

        def position() -> str:
            return bot_redis.hget(redis_keys.position(bot_id, bot_stack.SYMBOL), "qty") or ""  # type: ignore[arg-type]

        react, _stops = bot_stack.measure_bot(
            clock, watcher, position, candles, bot.poll, code=code
        )
        rss.stop()
        trading = max(rss.samples) / 1024
        trading_detail = bot_stack.memory(bot.pid)
    finally:
        bot.send_signal(signal.SIGTERM)
        try:
            bot.wait(30)
        except subprocess.TimeoutExpired:
            bot.kill()
    modules = dump.read_text().split() if dump.exists() else []
    heavy = sorted({m.split(".")[0] for m in modules if m.split(".")[0] in HEAVY})
    return {
        "module_names": modules,
        "idle": idle,
        "trading": trading,
        "idle_detail": idle_detail,
        "trading_detail": trading_detail,
        "modules": len(modules),
        "heavy": heavy,
        "react": statistics.median(react) if react else float("nan"),
    }


#: Runs in the floor process: imports the modules named on stdin, then waits.
FLOOR_SCRIPT = """
import importlib, sys, warnings
for detector in ("charset_normalizer", "chardet"):  # as 'alpha run bot' does
    sys.modules[detector] = None
warnings.filterwarnings("ignore", message="Unable to find acceptable character detection")
for name in sys.stdin.readline().split():
    try:
        importlib.import_module(name)
    except Exception:  # a module the bot loaded only under a condition of its own
        pass
print("ready", flush=True)
sys.stdin.readline()
"""


def own_packages() -> set[str]:
    """Top-level names that are Alpha's own code: its packages in the tree, the bench
    plugin, and the run's ``sitecustomize``."""
    return {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()} | {
        "flip_strategy", "sitecustomize", "__main__",
    }  # fmt: skip


def floor(modules: list[str]) -> dict[str, float]:
    """Memory of a process that imports every module the bot had loaded except Alpha's
    own: the libraries and the standard library it uses, and nothing else. What a bot
    costs below that is not Alpha's to save."""
    own = own_packages()
    wanted = [m for m in modules if m.split(".")[0] not in own]
    proc = subprocess.Popen(
        [sys.executable, "-c", FLOOR_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, cwd="/",
    )  # fmt: skip
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(" ".join(wanted) + "\n")
        proc.stdin.flush()
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("the floor process did not start")
        time.sleep(1.0)
        return {**bot_stack.memory(proc.pid), "modules": float(len(wanted))}
    finally:
        proc.kill()
        proc.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="7d18f5b",
                        help="git revision of the 'before' tree (default 7d18f5b, this branch's"
                        " base)")  # fmt: skip
    parser.add_argument("--candles", type=int, default=200,
                        help="closed bars each bot trades on (default 200)")  # fmt: skip
    parser.add_argument("--after-env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the 'after' bot only (repeatable):"
                        " e.g. --before HEAD --after-env MALLOC_ARENA_MAX=2 compares one"
                        " setting on the same tree")  # fmt: skip
    args = parser.parse_args()
    if args.candles < 2:
        parser.error("--candles must be at least 2")
    if any("=" not in item for item in args.after_env):
        parser.error("--after-env takes NAME=VALUE")
    after_env = dict(item.split("=", 1) for item in args.after_env)

    from core import redis_keys
    from paper_exchange.testing import spawn_exchange
    from tests.harness.services import ServiceStack, alpha_command

    load = os.getloadavg()
    stack = ServiceStack.start()
    exchange = listener = None
    socks: list[Any] = []
    logs = stack.tmp / "logs"
    logs.mkdir()
    try:
        try:
            before = source_tree(args.before, stack.tmp / "before")
        except subprocess.CalledProcessError as exc:
            why = exc.stderr.decode().strip()
            raise SystemExit(f"cannot read revision {args.before!r}: {why}") from None
        plugins = bot_stack.plugin_dir(stack.tmp)
        sys.path.insert(0, str(plugins))
        market = bot_stack.write_market(
            stack.tmp / "BTCUSDT_1.csv", bot_stack.HISTORY + 2 * (args.candles + 20)
        )
        exchange = spawn_exchange([
            "--account", "main:main-key:main-secret", "--market", str(market),
            "--speed", "manual", "--history-minutes", str(bot_stack.HISTORY), "--no-rate-limits",
        ])  # fmt: skip
        clock = bot_stack.Clock(exchange.control)
        watcher = bot_stack.Watcher()
        socks = bot_stack.sockets(exchange.ws_url, watcher, [("main-key", "main-secret")])
        dbname = stack.create_database()
        env = {
            **stack.env(dbname),
            "PYTHONPATH": str(plugins),
            "BYBIT_ENV": "paper",
            "BYBIT_REST_URL": exchange.rest_url,
            "BYBIT_WS_URL": exchange.ws_url,
            "BYBIT_API_KEY": "main-key",
            "BYBIT_API_SECRET": "main-secret",
            "LISTENER_SPOOL_DIR": str(stack.tmp / "spool"),
            "LISTENER_CATCHUP_MARGIN_SECONDS": "60",
            "ALPHA_LOG_LEVEL": "WARNING",
        }
        from devenv.ports import free_port

        with (logs / "listener.log").open("w") as log:
            listener = subprocess.Popen(
                [*alpha_command(), "run", "listener"], cwd=stack.tmp,
                env={**env, "PYTHONPATH": str(ROOT), "ALPHA_HTTP_PORT": str(free_port())},
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        infra = stack.redis(15)
        bot_stack.wait(lambda: infra.hget(redis_keys.LISTENER_STATUS, "main:connected") == "1"
                      or listener.poll() is not None, 60, "the listener")  # fmt: skip
        results = {}
        for label, tree in (("before", before), ("after", ROOT)):
            results[label] = run_one(
                label, tree, stack=stack, dbname=dbname, env=env, clock=clock,
                watcher=watcher, candles=args.candles, logs=logs,
                extra_env=after_env if label == "after" else None,
            )  # fmt: skip

        print(f"machine: {os.cpu_count()} CPUs, load average before the run "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
        print(f"one 'alpha run bot' process (test strategy benchflip, {args.candles} bars "
              "traded, an order on each):")  # fmt: skip
        for label, r in results.items():
            tree = args.before if label == "before" else "this tree"
            if label == "after" and after_env:
                tree += ", " + " ".join(f"{k}={v}" for k, v in after_env.items())
            print(f"  {label:6} ({tree}): idle RSS {r['idle']:.1f} MB, trading peak "
                  f"{r['trading']:.1f} MB, {r['modules']} modules loaded, heavy packages: "
                  f"{', '.join(r['heavy']) or 'none'}; candle → order p50 "
                  f"{r['react']:.1f} ms")  # fmt: skip
            for when in ("idle", "trading"):
                d = r[f"{when}_detail"]
                print(f"         {when} (end): RSS {d['rss']:.1f} MB, PSS {d['pss']:.1f} MB, "
                      f"private {d['private']:.1f} MB")  # fmt: skip
        b, a = results["before"], results["after"]
        print(f"  saved per bot: idle RSS {b['idle'] - a['idle']:.1f} MB, trading "
              f"{b['trading'] - a['trading']:.1f} MB, private (idle) "
              f"{b['idle_detail']['private'] - a['idle_detail']['private']:.1f} MB")  # fmt: skip
        low = floor(a["module_names"])
        fifty = 50 * low["rss"] / 1000
        print(f"the floor (raw limit, same run): a process importing the {low['modules']:.0f} "
              f"library and standard-library modules the 'after' bot loaded, none of Alpha's "
              f"own: RSS {low['rss']:.1f} MB, PSS {low['pss']:.1f} MB, private "
              f"{low['private']:.1f} MB; fifty of them: RSS {fifty:.2f} GB")  # fmt: skip
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("reproduce: .venv/bin/python bench/bot_memory.py " + " ".join(sys.argv[1:]))
    finally:
        bot_stack.tear_down([listener], socks, exchange, logs, stack)
    return 0


if __name__ == "__main__":
    sys.exit(main())
