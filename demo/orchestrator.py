"""``alpha demo``: the whole topology on this machine, then a verdict on the ledger.

Order: local infrastructure -> fresh database, migrated -> the four bots registered ->
paper exchange -> listener, trade sync, bots, (C2) as separate ``alpha run`` processes ->
live progress -> stop (bots first, then freeze the market, let the listener drain, stop
the rest) -> verify ledger vs exchange -> report. Exit 0 only if the verification passed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from demo import progress, services
from demo.infra import Infra, infra_summary
from demo.services import (
    ACCOUNT_KEYS,
    BOTS,
    Child,
    ServiceSpec,
    account_env,
    alpha_command,
    stop_all,
)
from demo.verify import Verdict, verify
from devenv.ports import free_port, wait_until

#: Seconds the listener gets, after the market is frozen, to commit the last executions.
DRAIN_SECONDS = 5


@dataclass
class Options:
    minutes: float = 5
    speed: float = 60
    seed: int = 7
    scenario: str = "squeeze_breakout"
    history_minutes: int = 3600
    keep: bool = False
    output: Path | None = None


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
                "--account", bot.account, "--redis-db", str(bot.redis_db),
                "--symbols", bot.symbols, "--mode", "paper",
                "--initial-capital", "100000"]  # fmt: skip
        if bot.exclusive:
            args.append("--exclusive")
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
        env = {**exchange, **own, "BOT_ID": bot.bot_id, "REDIS_DB": str(bot.redis_db)}
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
    args = ["run", "paper-exchange", "--port", str(port), "--seed", str(opts.seed),
            "--scenario", opts.scenario, "--speed", f"{opts.speed:g}",
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


def run(opts: Options) -> int:
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
        infra.start_pool_and_cache()
        for name, where in infra_summary(infra).items():
            print(f"demo: {name:<9} {where}")
        register_bots(infra, logs / "bootstrap.log")
        print(f"demo: registered {', '.join(b.bot_id for b in BOTS)}")
        exchange, base_url = start_exchange(opts, infra, logs)
        print(f"demo: paper exchange {base_url} (scenario {opts.scenario}, seed {opts.seed})")
        verbs = services.available_run_verbs()
        for spec in service_table(base_url):
            if spec.verb not in verbs:
                print(f"demo: skipped {spec.name}: 'alpha run {spec.verb}' is not in this build")
                continue
            if spec.optional and not spec.env.get("C2_TELEGRAM_BOT_TOKEN"):
                print(f"demo: skipped {spec.name}: no C2_TELEGRAM_BOT_TOKEN configured")
                continue
            paths = {"LISTENER_SPOOL_DIR": str(out / "spool"), "BACKUP_DIR": str(out / "backups")}
            env = infra.env(ALPHA_HTTP_PORT=str(free_port()), **spec.env, **paths)
            children.append(Child(spec, env, logs))
            print(
                f"demo: started {spec.name} (pid {children[-1].proc.pid}), "
                f"log {children[-1].log_path}"
            )
        progress.watch(infra, children, opts.minutes * 60)
        verdict = _stop_and_verify(infra, exchange, base_url, children)
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


def _admin_settings():  # type: ignore[no-untyped-def]
    from core.config import PostgresSettings

    return PostgresSettings()


def _stop_and_verify(
    infra: Infra, exchange: Child, base_url: str, children: list[Child]
) -> Verdict:
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
    _report(infra)
    return verdict


def _report(infra: Infra) -> None:
    """``alpha report pnl`` when this build has it; else the analytics view, plainly."""
    from core.cli import build

    group = build()._groups.get("report")
    if group is not None and "pnl" in group.choices:
        result = subprocess.run(
            [*alpha_command(), "report", "pnl"],
            env=infra.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        print(result.stdout, end="")
        if result.returncode != 0:
            print(f"demo: alpha report pnl failed: {result.stderr.strip()[-500:]}")
        charts = re.findall(r"\S+\.(?:png|svg)", result.stdout)
        if charts:
            print(f"demo: chart {charts[-1]}")
        return
    from demo import db

    print("demo: per-bot summary (analytics.bot_summary; 'alpha report pnl' not in this build)")
    try:
        for row in db.query(
            infra,
            "SELECT bot_id, fills, net_pnl, fees, trades, win_rate"
            " FROM analytics.bot_summary ORDER BY bot_id",
        ):
            print("  " + "  ".join(f"{k}={v}" for k, v in row.items()))
    except Exception as exc:  # the report is informative; the verdict decides the exit code
        print(f"demo: no report: {type(exc).__name__}: {exc}")


def _print_verdict(verdict: Verdict) -> None:
    for note in verdict.notes:
        print(f"demo: {note}")
    for problem in verdict.problems:
        print(f"demo: FAIL {problem}")
    print("demo: verification " + ("PASSED" if verdict.passed else "FAILED"))
