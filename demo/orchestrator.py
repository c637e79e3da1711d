"""``alpha demo``: the whole topology on this machine, then a verdict on the ledger.

Order: local infrastructure -> fresh database, migrated -> the four bots registered (with
the demo's short-interval configs, see ``demo.services.DEMO_CONFIGS``) -> paper exchange,
its clock frozen -> listener, trade sync, bots, (C2) as separate ``alpha run`` processes ->
once every service answers ``/healthz`` (bots warmed up and subscribed), the clock starts,
so the scenario's events happen live whatever this machine's start-up time -> live
progress -> stop (bots first, then freeze the market, let the listener drain, stop the
rest) -> verify ledger vs exchange -> per-bot report and chart. Exit 0 only if the
verification passed.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core import redis_acl
from core.errors import UserError
from core.ids import BotId
from demo import progress, services
from demo.infra import Infra, infra_summary
from demo.services import (
    ACCOUNT_KEYS,
    BOTS,
    DEFAULT_SCENARIO,
    DEFAULT_SPEED,
    DEMO_CONFIG_NOTE,
    Child,
    ServiceSpec,
    account_env,
    alpha_command,
    stop_all,
)
from demo.verify import Verdict, verify
from devenv.ports import free_port, wait_until
from paper_exchange.market.generator import SCENARIOS

#: Seconds the listener gets, after the market is frozen, to commit the last executions.
DRAIN_SECONDS = 5
#: Seconds the services get to warm up and subscribe before the clock starts anyway.
READY_SECONDS = 120
#: Simulated minutes played after the scenario's last segment, for the last exits.
TAIL_MINUTES = 20


@dataclass
class Options:
    minutes: float | None = None  # None: long enough to play the scenario once
    speed: float = DEFAULT_SPEED
    seed: int = 7
    scenario: str = DEFAULT_SCENARIO
    #: Realistic by default: the demo shows the bots handling partial fills and slippage.
    liquidity: str = "realistic"
    history_minutes: int = 3600
    keep: bool = False
    output: Path | None = None

    def real_minutes(self) -> float:
        """``minutes``, or the real time the scenario (plus a tail) takes at ``speed``."""
        if self.minutes is not None:
            return self.minutes
        played = sum(s.minutes for s in SCENARIOS.get(self.scenario, ()))
        # A scenario without segments (random_walk) gets the demo scenario's length.
        played = played or sum(s.minutes for s in SCENARIOS[DEFAULT_SCENARIO])
        return (played + TAIL_MINUTES) / self.speed  # speed: simulated s per real s


def _stamp() -> str:
    n = int(time.time())
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out + secrets.token_hex(2)


def _alpha(args: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        result = subprocess.run(
            [*alpha_command(), *args], env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        raise UserError(f"alpha {' '.join(args[:3])} failed (exit {result.returncode}); see {log}")


def register_bots(infra: Infra, log: Path) -> None:
    for bot in BOTS:
        args = ["bots", "register", bot.bot_id, "--type", bot.bot_type, "--code", bot.code,
                "--account", bot.account, "--symbols", bot.symbols, "--mode", "paper",
                "--initial-capital", "100000"]  # fmt: skip
        if bot.redis_db is not None:
            args += ["--redis-db", str(bot.redis_db)]
        if bot.exclusive:
            args.append("--exclusive")
        if bot.config:
            args += ["--config", json.dumps(bot.config)]
        _alpha(args, infra.env(), log)


def service_table(base_url: str) -> list[ServiceSpec]:
    """Every service after the exchange, in start order (like the compose file)."""
    ws_url = base_url.replace("http://", "ws://", 1)
    exchange = {"BYBIT_ENV": "paper", "BYBIT_REST_URL": base_url, "BYBIT_WS_URL": ws_url}
    every_account = account_env(ACCOUNT_KEYS)
    table = [
        ServiceSpec("listener", ("run", "listener"), {**exchange, **every_account}, "listener"),
        ServiceSpec(
            "trade_sync", ("run", "trade-sync"), {**exchange, **every_account}, "trade-sync"
        ),
    ]
    for bot in BOTS:
        own = account_env({bot.account: ACCOUNT_KEYS[bot.account]})
        env = {**exchange, **own, "BOT_ID": bot.bot_id}
        if bot.redis_db is not None:
            env["REDIS_DB"] = str(bot.redis_db)
        table.append(ServiceSpec(bot.bot_id, ("run", "bot", bot.bot_id), env, "bot"))
    c2 = {k: v for k, v in os.environ.items() if k.startswith("C2_TELEGRAM_")}
    table.append(ServiceSpec("c2", ("run", "c2"), {**exchange, **c2}, "c2", optional=True))
    return table


def _post(url: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    urllib.request.urlopen(request, timeout=10).close()


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except OSError:
        return False


def start_exchange(opts: Options, infra: Infra, logs: Path) -> tuple[Child, str]:
    port = free_port()
    # Frozen ("manual") until every service is ready: see start_clock.
    args = ["run", "paper-exchange", "--port", str(port), "--seed", str(opts.seed),
            "--scenario", opts.scenario, "--speed", "manual", "--liquidity", opts.liquidity,
            "--history-minutes", str(opts.history_minutes)]  # fmt: skip
    for name, (key, secret) in ACCOUNT_KEYS.items():
        args += ["--account", f"{name}:{key}:{secret}"]
    child = Child(
        ServiceSpec("paper_exchange", tuple(args), {}, "paper-exchange"), infra.env(), logs
    )
    base_url = f"http://127.0.0.1:{port}"
    if not wait_until(lambda: _answers(f"{base_url}/paper/state") or not child.alive, 60):
        pass
    if not child.alive or not _answers(f"{base_url}/paper/state"):
        stop_all([child])
        raise UserError(f"the paper exchange did not start; see {child.log_path}")
    return child, base_url


def _ready(child: Child) -> bool:
    """A bot is ready when its ``/healthz`` passes (its heartbeat starts only after warm-up
    and subscription); the listener when its private streams are connected — its other
    checks (a recent message, the last write reached PostgreSQL) need executions, which
    only come once the market runs."""
    if child.http_port is None or child.spec.verb not in ("bot", "listener"):
        return True
    url = f"http://127.0.0.1:{child.http_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except urllib.error.HTTPError as failing:  # 503: which checks fail?
        try:
            checks = json.loads(failing.read())["checks"]
        except (ValueError, KeyError, OSError):
            return False
        return child.spec.verb == "listener" and bool(checks.get("connected", {}).get("ok"))
    except OSError:
        return False


def start_clock(base_url: str, speed: float, children: list[Child]) -> None:
    """Start the market once the bots are warmed up and subscribed and the listener is
    connected, so the scenario's events happen live for every one of them."""
    started = time.monotonic()
    waiting = list(children)
    while waiting and time.monotonic() - started < READY_SECONDS:
        waiting = [c for c in waiting if c.alive and not _ready(c)]
        if waiting:
            time.sleep(0.5)
    if waiting:
        names = ", ".join(c.spec.name for c in waiting)
        print(f"demo: not ready after {READY_SECONDS}s: {names}; starting the market anyway")
    dead = [c.spec.name for c in children if not c.alive]
    if dead:
        print(f"demo: exited during start-up: {', '.join(dead)}; see their logs")
    _post(f"{base_url}/paper/clock", {"speed": speed})
    print(
        f"demo: services ready after {time.monotonic() - started:.0f}s; market running at "
        f"{speed:g} simulated seconds per second"
    )


def _sim_clock(base_url: str) -> str:
    """The paper exchange's simulated time, for the progress lines."""
    try:
        with urllib.request.urlopen(f"{base_url}/paper/state", timeout=2) as reply:
            now_ms = int(json.loads(reply.read())["now_ms"])
    except (OSError, ValueError, KeyError):
        return ""
    return "market " + time.strftime("%H:%M", time.gmtime(now_ms / 1000)) + " UTC"


def run(opts: Options) -> int:
    if hasattr(sys.stdout, "reconfigure"):  # progress must show up live in a pipe or a log
        sys.stdout.reconfigure(line_buffering=True)
    stamp = _stamp()
    out = (opts.output or Path(".run/demo") / stamp).resolve()
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for path in (out.parent, out):  # PgBouncer runs unprivileged when we are root
        path.chmod(0o711)
    print(f"demo: output and logs in {out}")
    infra = Infra(out=out, stamp=stamp, admin=_admin_settings())
    exchange: Child | None = None
    children: list[Child] = []
    verdict = Verdict(problems=["the demo stopped before verification"])
    try:
        infra.start_postgres()
        infra.migrate(logs / "migrate.log")
        infra.start_pool_and_cache([BotId(b.bot_id) for b in BOTS])
        for name, where in infra_summary(infra).items():
            print(f"demo: {name:<9} {where}")
        register_bots(infra, logs / "bootstrap.log")
        print(f"demo: registered {', '.join(b.bot_id for b in BOTS)}")
        print(f"demo: NOTE {DEMO_CONFIG_NOTE}")
        exchange, base_url = start_exchange(opts, infra, logs)
        print(
            f"demo: paper exchange {base_url} (scenario {opts.scenario}, seed {opts.seed},"
            f" {opts.liquidity} liquidity)"
        )
        verbs = services.available_run_verbs()
        for spec in service_table(base_url):
            if spec.verb not in verbs:
                print(f"demo: skipped {spec.name}: 'alpha run {spec.verb}' is not in this build")
                continue
            if spec.optional and not spec.env.get("C2_TELEGRAM_BOT_TOKEN"):
                print(f"demo: skipped {spec.name}: no C2_TELEGRAM_BOT_TOKEN configured")
                continue
            paths = {"LISTENER_SPOOL_DIR": str(out / "spool"), "BACKUP_DIR": str(out / "backups")}
            login = infra.redis_login(redis_acl.user_for(spec.verb, spec.env.get("BOT_ID")))
            env = infra.env(ALPHA_HTTP_PORT=str(free_port()), **spec.env, **paths, **login)
            children.append(Child(spec, env, logs))
            print(
                f"demo: started {spec.name} (pid {children[-1].proc.pid}), "
                f"log {children[-1].log_path}"
            )
        start_clock(base_url, opts.speed, children)
        minutes = opts.real_minutes()
        simulated = minutes * opts.speed
        print(f"demo: trading for {minutes * 60:.0f}s ({simulated:.0f} simulated minutes)")
        progress.watch(infra, children, minutes * 60, status=lambda: _sim_clock(base_url))
        verdict = _stop_and_verify(infra, base_url, children, out)
    except KeyboardInterrupt:
        print("demo: interrupted; stopping everything")
    finally:
        stop_all(children)
        if exchange is not None:
            stop_all([exchange])
        infra.stop(keep=opts.keep)
    _print_verdict(verdict)
    if opts.keep:
        print(f"demo: kept database {infra.database} and {out}")
    return 0 if verdict.passed else 1


def _admin_settings():
    from core.config import PostgresSettings

    return PostgresSettings()  # type: ignore[call-arg]  # the fields come from the environment


def _stop_and_verify(infra: Infra, base_url: str, children: list[Child], out: Path) -> Verdict:
    bots = [c for c in children if c.spec.verb == "bot"]
    codes = stop_all(bots)
    bots_ids = {c.spec.name for c in bots}
    children[:] = [c for c in children if c.spec.name not in bots_ids]
    try:
        _post(f"{base_url}/paper/clock", {"speed": None})  # freeze: no fill after this
    except OSError as exc:
        print(f"demo: could not freeze the paper exchange clock: {exc}")
    time.sleep(DRAIN_SECONDS)
    codes |= stop_all(children)
    children.clear()
    for name, code in codes.items():
        if code not in (0, None):
            print(f"demo: {name} exited with {code}; see its log")
    accounts = sorted(ACCOUNT_KEYS)
    verdict = verify(infra, base_url, accounts)
    _report(infra, out, verdict)
    return verdict


BOT_SUMMARY = """
SELECT b.bot_id, coalesce(s.fills, 0) AS fills, coalesce(s.trades, 0) AS trades,
       coalesce(s.wins, 0) AS wins, coalesce(s.net_pnl, 0) AS net_pnl,
       coalesce(s.fees, 0) AS fees
  FROM trading.bots b LEFT JOIN analytics.bot_summary s USING (bot_id)
 WHERE b.bot_id = ANY(%s) ORDER BY b.bot_id
"""


def _report(infra: Infra, out: Path, verdict: Verdict) -> None:
    """The per-bot report from the analytics views (``trades`` are closed round trips),
    then ``alpha report pnl`` with its chart when this build has it. A bot that never
    completed a trade is called out: the demo market is meant to exercise every strategy."""
    from demo import db

    print("demo: per-bot report (analytics.bot_summary; trades = closed round trips)")
    try:
        rows = db.query(infra, BOT_SUMMARY, ([b.bot_id for b in BOTS],))
    except Exception as exc:  # the report is informative; the verdict decides the exit code
        print(f"demo: no report: {type(exc).__name__}: {exc}")
        rows = []
    for row in rows:
        print(
            f"demo: bot {row['bot_id']:<16} fills={row['fills']} trades={row['trades']} "
            f"wins={row['wins']} net_pnl={row['net_pnl']:.2f} fees={row['fees']:.2f}"
        )
        if not row["trades"]:
            verdict.notes.append(f"WARNING {row['bot_id']} completed no trade in this run")
    from core.cli import build

    group = build()._groups.get("report")
    if group is None or "pnl" not in group.choices:
        print("demo: no chart: 'alpha report pnl' is not in this build")
        return
    chart = out / "pnl.png"
    result = subprocess.run(
        [*alpha_command(), "report", "pnl", "--png", str(chart)],
        env=infra.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    print(result.stdout, end="")
    if result.returncode != 0:
        print(f"demo: alpha report pnl failed: {result.stderr.strip()[-500:]}")
    elif chart.exists():
        print(f"demo: chart {chart}")


def _print_verdict(verdict: Verdict) -> None:
    for note in verdict.notes:
        print(f"demo: {note}")
    for problem in verdict.problems:
        print(f"demo: FAIL {problem}")
    print("demo: verification " + ("PASSED" if verdict.passed else "FAILED"))
