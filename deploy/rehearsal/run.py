"""One rehearsal, from the engine to the verdict."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploy import compose_file
from deploy.rehearsal import checks, faults, images, observe, operations, report, risk_check
from deploy.rehearsal.stack import ROOT, EventLog, Stack, StackError, write_env

ONE_SHOTS = ("migrate", "bootstrap")
PAUSED_BOT, PAUSED_BOT_DB = "shortseller_001", 0
KILLED_BOT = "orderblock"
#: The bot whose universe is re-selected from the tickers (LXAlgo's turnover ranking).
UNIVERSE_BOT = "lxalgo"


def thin_symbols() -> list[str]:
    """The paper market's symbols that trade less a day than LXAlgo's turnover floor:
    its ranking must leave them out."""
    from bots.lxalgo.config import LXAlgoConfig
    from paper_exchange.engine.turnover import DAILY_TURNOVER_USDT

    floor = LXAlgoConfig.model_fields["min_turnover_24h"].default
    return sorted(s for s, usdt in DAILY_TURNOVER_USDT.items() if usdt < floor)


#: When, as a fraction of the simulated period, each step happens (in this order).
SCHEDULE = (
    (0.12, "listener crash"),
    (0.17, "second listener"),
    (0.22, "postgres restart"),
    (0.30, "pgbouncer restart"),
    (0.38, "redis restart"),
    (0.46, "network cut"),
    (0.58, "bot kill"),
    (0.66, "backup"),
    (0.74, "c2"),
)


@dataclass(frozen=True)
class Options:
    days: float
    speed: float
    seed: int
    keep: bool
    no_build: bool
    project: str
    out: str


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def engine(verb: str) -> str:
    done = subprocess.run([str(ROOT / "deploy/rehearsal/engine"), verb],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise StackError(f"engine {verb}: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout.strip()


class Rehearsal:
    def __init__(self, opts: Options, stack: Stack, env: dict[str, str]) -> None:
        self.opts, self.stack, self.env = opts, stack, env
        self.obs = checks.Observations(config=stack.config())
        self.running = [s for s in stack.services() if s not in ONE_SHOTS]
        self.sim_start = 0

    # --- 1. up ---------------------------------------------------------------------
    def up(self) -> bool:
        started = time.time()
        say("docker compose up (profiles paper, monitoring)")
        self.stack.compose("up", "-d", "--no-build", *self.stack.services(), timeout=900)
        bad = faults.wait_healthy(self.stack, self.running, 300)
        self.obs.unhealthy_after_up = bad
        if bad:
            return False
        self.obs.up_seconds = time.time() - started
        say(f"every service healthy after {self.obs.up_seconds:.0f} s")
        deadline = time.monotonic() + 90  # the first scrape of every target
        while time.monotonic() < deadline:
            self.obs.prometheus_targets = observe.prometheus_targets(self.stack)
            if self.obs.prometheus_targets and all(
                h == "up" for _, h in self.obs.prometheus_targets
            ):
                break
            time.sleep(5)
        return True

    # --- 2–4. trading, faults, operations ----------------------------------------------
    def progress(self) -> float:
        now = int(observe.paper(self.stack, "/paper/state")["now_ms"])
        return (now - self.sim_start) / (self.opts.days * 86_400_000)

    def trade(self) -> None:
        self.sim_start = int(observe.paper(self.stack, "/paper/state")["now_ms"])
        observe.paper(self.stack, "/paper/clock", {"speed": self.opts.speed})
        say(f"market running at {self.opts.speed:g}x for {self.opts.days:g} simulated days")
        pending = list(SCHEDULE)
        last_line = 0.0
        while True:
            done = self.progress()
            if pending and done >= pending[0][0]:
                self.step(pending.pop(0)[1])
                continue
            if done >= 1 and not pending:
                break
            if time.monotonic() - last_line > 20:
                last_line = time.monotonic()
                day = done * self.opts.days
                say(f"day {day:5.1f}/{self.opts.days:g} · fills {self.fill_counts()}")
            time.sleep(2)
        if self.obs.c2.get("paused_at"):
            operations.resume(self.stack, self.obs.c2)
        observe.paper(self.stack, "/paper/clock", {"speed": None})
        say("market stopped; waiting for the ledger to settle")

    def fill_counts(self) -> str:
        rows = self.stack.psql("SELECT bot_id, count(*) FROM trading.fills GROUP BY 1 ORDER BY 1")
        return ", ".join(f"{b} {n}" for b, n in rows) or "none yet"

    def step(self, name: str) -> None:
        say(f"{name} …")
        s, running = self.stack, self.running

        def advancing(since: float) -> bool:
            return observe.new_fills_since(s, since)

        if name == "listener crash":
            self.obs.faults.append(faults.crash_listener(s, running, advancing))
        elif name == "second listener":
            self.obs.faults.append(faults.second_listener(s, running, advancing))
        elif name.endswith(" restart"):
            self.obs.faults.append(faults.restart(s, name.split()[0], running, advancing))
        elif name == "network cut":
            network = f"{self.opts.project}_egress"
            self.obs.faults.append(faults.cut_network(
                s, "websocket_listener", network, running, advancing, hold=30, longest=150,
                seen=lambda since: any(d["detected"] >= since for d in observe.drift_events(s)),
            ))  # fmt: skip
        elif name == "bot kill":
            self.obs.faults.append(faults.kill_bot(s, KILLED_BOT, running, advancing))
        elif name == "backup":
            say(operations.run_backup(s) or "backup: no output")
            self.obs.backup = observe.backup(s)
        elif name == "c2":
            self.obs.c2 = operations.drive_c2(s, PAUSED_BOT, PAUSED_BOT_DB)
        last = self.obs.faults[-1] if self.obs.faults and name not in ("backup", "c2") else None
        if last is not None:
            outcome = (
                f"recovered in {last.recovered_after:.0f} s"
                if last.recovered_after
                else f"NOT recovered: {last.detail}"
            )
            say(f"{name}: {outcome}")

    # --- 5. verification ---------------------------------------------------------------
    def verify(self) -> None:
        s, obs = self.stack, self.obs
        observe.wait_quiet(s)
        obs.bots = observe.bots(s)
        wanted = compose_file.registrations(compose_file.load())  # the file's own
        obs.registered_symbols = {b: f["symbols"] for b, f in wanted.items()}
        obs.defaults = {row["bot_id"]: observe.strategy_defaults(row) for row in obs.bots
                        if row["bot_id"] in wanted}  # fmt: skip
        obs.fills = observe.fills(s)
        obs.funding = observe.funding(s)
        try:
            obs.capital = observe.capital(s, obs.bots, checks.bot_services(obs.config))
            risk = observe.risk(s, obs.bots)
            obs.risk_alerts, obs.risk_anchors = risk["alerts"], risk["anchors"]
            obs.rejections = risk["rejections"]
            obs.risk_grace_s = risk_check.HOST_LAG_S * self.opts.speed
        except (StackError, json.JSONDecodeError, KeyError) as exc:
            obs.risk_error = str(exc)[:300]
        now_ms = int(observe.paper(s, "/paper/state")["now_ms"])
        obs.candles = observe.stored_candles(s, now_ms)
        end_ms = now_ms + 60_000
        start_ms = self.sim_start - 86_400_000
        obs.exchange = json.loads(
            s.python("websocket_listener", "exchange.py", str(start_ms), str(end_ms))
        )
        # A bot without a DB of its own keeps its keys in the shared DB 0 (docs/redis.md);
        # the reserved external row has none anywhere.
        dbs = sorted({0 if row.get("redis_db") is None else int(row["redis_db"])
                      for row in obs.bots if row["bot_id"] != "external"})  # fmt: skip
        obs.redis_positions = observe.redis_positions(s, dbs)
        say(s.exec("websocket_listener", "alpha", "positions", "rebuild").strip()[-200:])
        obs.rebuilt_positions = observe.redis_positions(s, dbs)
        obs.drift_events = observe.drift_events(s)
        obs.spool_files = observe.spool_files(s)
        obs.api = operations.probe_api(s, PAUSED_BOT)
        try:
            obs.universe = observe.universe(s, UNIVERSE_BOT)
        except StackError as exc:
            obs.universe = {"error": str(exc)}
        obs.thin_symbols = thin_symbols()
        try:  # the per-container figure bench/fleet.py measures, here under Docker
            charged = observe.containers_memory(s, checks.bot_services(obs.config))
            say("bot containers' memory cgroups (anonymous / file pages, MiB): " + ", ".join(
                f"{svc} {anon / 2**20:.0f} / {files / 2**20:.0f}"
                for svc, (anon, files) in sorted(charged.items())
            ))  # fmt: skip
        except (StackError, ValueError) as exc:
            say(f"bot containers' memory cgroups not read: {str(exc)[:200]}")


def rehearse(opts: Options) -> int:
    started = time.time()
    out = (ROOT / opts.out).resolve()
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    result: list[checks.Check] = []
    built: list[images.Built] = []
    memory: dict[str, tuple[int, int]] = {}
    engine_state = ""
    rehearsal: Rehearsal | None = None
    events = sampler = None
    stack: Stack | None = None
    try:
        engine_state = engine("start")
        say(f"docker engine {engine_state}")
        chosen, built = images.build_all(no_build=opts.no_build, log=say)
        env = write_env(out / ".env", chosen, "manual", opts.seed)
        stack = Stack(opts.project, out / ".env")
        stack.compose("down", "-v", "--remove-orphans", timeout=300)  # a kept earlier run
        events = EventLog(opts.project)
        sampler = observe.MemorySampler(stack)
        rehearsal = Rehearsal(opts, stack, env)
        if rehearsal.up():
            rehearsal.trade()
            rehearsal.verify()
    except StackError as exc:
        result.append(checks.Check("rehearsal ran to the end", False, str(exc)))
        say(f"stopped: {exc}")
    finally:
        if sampler is not None:
            memory = sampler.close()
        if rehearsal is not None:
            rehearsal.obs.events = events.close() if events is not None else []
            rehearsal.obs.memory = memory
            result = checks.evaluate(rehearsal.obs) + result
        if stack is not None:
            _save_logs(stack, out)
            if not opts.keep:
                say("tearing down containers, networks and volumes")
                _quietly(lambda: stack.compose("down", "-v", "--remove-orphans", timeout=300))
        if engine_state == "started" and not opts.keep:
            _quietly(lambda: engine("stop"))
    up = rehearsal.obs.up_seconds if rehearsal is not None else None
    text = report.render(result, report.measurements(built, up, memory, time.time() - started))
    (out / "report.txt").write_text(text + "\n", encoding="utf-8")
    print(text, flush=True)
    return 0 if result and all(c.ok for c in result) else 1


def _quietly(action: Any) -> None:
    try:
        action()
    except StackError as exc:
        print(f"warning: {exc}", file=sys.stderr)


def _save_logs(stack: Stack, out: Path) -> None:
    try:
        logs = stack.compose("logs", "--no-color", "--timestamps", timeout=120)
    except StackError as exc:
        logs = str(exc)
    (out / "compose.log").write_text(logs, encoding="utf-8")
    counts = Counter(line.split("|", 1)[0].strip() for line in logs.splitlines() if "|" in line)
    say(f"container logs: {out / 'compose.log'} ({sum(counts.values())} lines)")
