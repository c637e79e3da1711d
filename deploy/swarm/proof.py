"""The Swarm proof: deploy the stack on a single-node swarm here, trade, SIGKILL the
listener's task, see Swarm replace it, and verify that nothing was lost."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploy import compose_file
from deploy.rehearsal import checks, images, observe
from deploy.rehearsal.checks import Check
from deploy.rehearsal.run import engine, say
from deploy.rehearsal.stack import DOCKER, ROOT, StackError, run, write_env
from deploy.swarm import generate
from deploy.swarm.swarm_stack import (
    SwarmStack,
    create_secrets,
    init_swarm,
    label_data_node,
    leftovers,
    teardown,
)

HERE = Path(__file__).resolve().parent
#: Deployed here: the services, the paper exchange, and the proof's fake Telegram API.
FILES = [HERE / "stack.yml", HERE / "paper.yml", HERE / "proof.yml"]
ONE_SHOTS = ("migrate", "bootstrap")
LISTENER = "websocket_listener"
#: Not part of a deployment: given its made-up token in the environment.
PROOF_ONLY = ("fake_telegram",)


@dataclass(frozen=True)
class Options:
    before: float  # seconds of trading before the kill
    after: float  # seconds of trading after the new listener is healthy
    speed: float
    seed: int
    keep: bool
    no_build: bool
    project: str
    out: str
    #: With the second node: cut its link (a partition), then heal it, instead of
    #: killing it.
    partition: bool = False


def deployed_secrets() -> list[str]:
    names: set[str] = set()
    for path in FILES:
        names |= set((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("secrets") or {})
    return sorted(names)


def secret_values(env: dict[str, str]) -> dict[str, str]:
    """Each deployed secret's value, from the same ``.env`` the rehearsal writes."""
    templates = generate.secret_templates(compose_file.load())
    return {name: generate.render_secret(templates[name], env) for name in deployed_secrets()}


class Proof:
    def __init__(self, opts: Options, stack: SwarmStack, env: dict[str, str]) -> None:
        self.opts, self.stack, self.env = opts, stack, env
        self.results: list[Check] = []
        self.measured: list[str] = []
        self.long_running: list[str] = []
        self.sim_start = 0

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.results.append(Check(name, ok, detail))
        say(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
        return ok

    def deploy(self) -> bool:
        say("docker stack deploy (stack.yml, paper.yml, proof.yml)")
        deploy_env = {**os.environ, **self.env, "ALPHA_SOURCE_DIR": str(ROOT)}
        started = time.monotonic()
        printed = self.stack.deploy(deploy_env)
        # What docker stack deploy cannot do it skips with a warning: the translation
        # must leave nothing for it to skip.
        ignored = [line for line in printed.splitlines() if "gnor" in line or "nsupported" in line]
        self.check(
            "docker stack deploy took every option",
            not ignored,
            "; ".join(ignored) or "no option ignored or unsupported",
        )
        self.long_running = [s for s in self.stack.services() if s not in ONE_SHOTS]
        _, bad = self.stack.wait(self.long_running, list(ONE_SHOTS), timeout=360)
        took = time.monotonic() - started
        self.measured.append(f"deploy to every service healthy: {took:.0f} s")
        # Without depends_on, a service that started before what it needs exits and Swarm
        # starts it again: how often that happened is the cost of having no ordering.
        retried = {s: len(self.stack.tasks(s)) - 1 for s in self.stack.services()}
        self.measured.append(
            "tasks started again before the stack was up: "
            + (", ".join(f"{s} {n}" for s, n in sorted(retried.items()) if n) or "none")
        )
        return self.check(
            "deployed, every service healthy, one-shots complete",
            not bad,
            f"{len(self.long_running)} services healthy, {', '.join(ONE_SHOTS)} complete "
            f"after {took:.0f} s"
            if not bad
            else f"after {took:.0f} s still not: {', '.join(bad)}",
        )

    def secrets_hidden(self) -> bool:
        """No secret value appears in any service's spec: each is a Swarm secret."""
        values = {n: v for n, v in secret_values(self.env).items() if len(v) >= 8}
        leaks = [
            f"{name} in {service}"
            for service in self.long_running + list(ONE_SHOTS)
            if service not in PROOF_ONLY
            for name, value in values.items()
            if value in self.stack.spec(service)
        ]
        return self.check(
            "secrets are Swarm secrets",
            not leaks,
            f"{len(values)} secrets, none in a service's spec"
            if not leaks
            else f"in the spec: {', '.join(leaks[:5])}",
        )

    def fills(self) -> int:
        return int(self.stack.psql("SELECT count(*) FROM trading.fills")[0][0])

    def trade(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(20.0, max(0.0, deadline - time.monotonic())))
            say(f"fills in the ledger: {self.fills()}")

    def start_market(self) -> None:
        self.sim_start = int(observe.paper(self.stack, "/paper/state")["now_ms"])
        observe.paper(self.stack, "/paper/clock", {"speed": self.opts.speed})
        say(f"market running at {self.opts.speed:g}x")

    def kill_listener(self) -> bool:
        before = self.fills()
        if not self.check("bots traded before the kill", before > 0, f"{before} fills"):
            return False
        old = self.stack.container(LISTENER)
        say(f"SIGKILL of the listener's container {old[:12]}")
        killed = time.time()
        run([DOCKER, "kill", "-s", "KILL", old])
        new, healthy_at = "", 0.0
        while time.time() - killed < 240:
            try:
                new = self.stack.container(LISTENER)
            except StackError:
                new = ""
            if new and new != old and self.stack.healthy(LISTENER):
                healthy_at = time.time()
                break
            time.sleep(2)
        tasks = self.stack.tasks(LISTENER)
        old_task = tasks[1] if len(tasks) > 1 else None
        if not healthy_at:
            return self.check(
                "listener task rescheduled",
                False,
                f"no new healthy task within 240 s; tasks: {tasks[:3]}",
            )
        self.measured.append(
            f"SIGKILL to the new listener task healthy: {healthy_at - killed:.0f} s"
        )
        self.check(
            "listener task rescheduled",
            old_task is not None and old_task.current.startswith("Failed"),
            f"task {tasks[0].id[:12]} (container {new[:12]}) healthy {healthy_at - killed:.0f} s "
            f"after the kill; the killed one: {old_task.current if old_task else '?'} "
            f"({old_task.error if old_task else ''})",
        )
        while not observe.new_fills_since(self.stack, healthy_at):
            if time.time() - healthy_at > 150:
                return self.check("ledger growing again", False, "no fill in the 150 s after")
            time.sleep(2)
        bad = [s for s in self.long_running if not self.stack.healthy(s)]
        self.check("every service healthy after the kill", not bad, ", ".join(bad) or "all")
        return self.check(
            "ledger growing again",
            True,
            f"a new fill {time.time() - healthy_at:.0f} s after the new task was healthy",
        )

    def course(self, disrupt: Callable[[], bool]) -> None:
        """What every proof does once deployed: secrets hidden, the market started,
        trading, ``disrupt`` (trading again only if it held), every execution verified."""
        self.secrets_hidden()
        self.start_market()
        self.trade(self.opts.before)
        if disrupt():
            self.trade(self.opts.after)
        self.verify()

    def verify(self) -> None:
        observe.paper(self.stack, "/paper/clock", {"speed": None})
        settled = observe.wait_quiet(self.stack, settle=20, longest=180)
        say(f"market stopped; ledger settled at {settled} fills")
        obs = checks.Observations(config={})
        obs.bots = observe.bots(self.stack)
        obs.fills = observe.fills(self.stack)
        obs.funding = observe.funding(self.stack)
        now_ms = int(observe.paper(self.stack, "/paper/state")["now_ms"])
        script_args = (str(self.sim_start - 86_400_000), str(now_ms + 60_000))
        obs.exchange = json.loads(self.stack.python(LISTENER, "exchange.py", *script_args))
        for result in checks.check_executions(obs):
            self.check(result.name, result.ok, result.detail)


def _save_logs(stack: SwarmStack, out: Path) -> None:
    parts = []
    for service in stack.services():
        try:
            logs = run(
                [
                    DOCKER,
                    "service",
                    "logs",
                    "--no-task-ids",
                    "--timestamps",
                    stack.service_name(service),
                ],
                timeout=60,
            )
        except StackError as exc:
            logs = str(exc)
        parts.append(f"==> {service}\n{logs}")
    (out / "swarm.log").write_text("\n".join(parts), encoding="utf-8")
    say(f"service logs: {out / 'swarm.log'}")


@dataclass
class Attempt:
    """One run of a proof: what it deploys, what its teardown says and also undoes."""

    opts: Options
    stack: SwarmStack
    out: Path
    #: For the log line and the report: "the stack, its volumes and the secrets" …
    removing: str
    removed: str
    #: What the teardown undoes after the stack (the swarm, the second node).
    undo: list[Callable[[], Any]] = field(default_factory=list)
    proof: Proof | None = None
    engine_state: str = ""
    started: float = field(default_factory=time.time)


def guarded(attempt: Attempt, body: Callable[[Attempt], None]) -> int:
    """Starts the engine and runs ``body``; whatever happened, saves the services' logs,
    removes what the run made (unless ``--keep``), and reports."""
    failure: Check | None = None
    left: dict[str, list[str]] = {}
    tear_down = False
    try:
        attempt.engine_state = engine("start")
        say(f"docker engine {attempt.engine_state}")
        body(attempt)
    except StackError as exc:
        failure = Check("proof ran to the end", False, str(exc))
        say(f"stopped: {exc}")
    finally:
        tear_down = bool(attempt.engine_state) and not attempt.opts.keep
        if tear_down:
            _quietly(lambda: _save_logs(attempt.stack, attempt.out))
            say(f"removing {attempt.removing}")
            left = _quietly(lambda: teardown(attempt.stack, deployed_secrets())) or {}
            for undo in attempt.undo:
                undo()
        if attempt.engine_state == "started" and not attempt.opts.keep:
            _quietly(lambda: engine("stop"))
    results = outcome(attempt.proof, failure, left if tear_down else None, removed=attempt.removed)
    measured = attempt.proof.measured if attempt.proof else []
    return report(results, measured, time.time() - attempt.started, attempt.out)


def prove(opts: Options) -> int:
    out = (ROOT / opts.out).resolve()
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    stack = SwarmStack(opts.project, out / ".env", files=FILES)
    swarm_created = False

    def body(attempt: Attempt) -> None:
        nonlocal swarm_created
        chosen, _ = images.build_all(no_build=opts.no_build, log=say)
        env = write_env(out / ".env", chosen, "manual", opts.seed)
        swarm_created = init_swarm()
        say("swarm initialised (single node)" if swarm_created else "swarm already active")
        label_data_node()
        if any(leftovers(opts.project).values()):  # a kept earlier run
            teardown(stack, deployed_secrets())
        create_secrets(secret_values(env))
        attempt.proof = Proof(opts, stack, env)
        if attempt.proof.deploy():
            attempt.proof.course(attempt.proof.kill_listener)

    def leave_a_created_swarm() -> None:
        if swarm_created:
            leave_swarm()

    attempt = Attempt(opts, stack, out, removing="the stack, its volumes and the secrets",
                      removed="stack, volumes, secrets removed",
                      undo=[leave_a_created_swarm])  # fmt: skip
    return guarded(attempt, body)


def leave_swarm() -> None:
    """Leaves the swarm a run created, and removes the bridge ``swarm init`` created
    for the node's overlay traffic."""
    _quietly(lambda: run([DOCKER, "swarm", "leave", "--force"]))
    _quietly(lambda: run([DOCKER, "network", "rm", "docker_gwbridge"]))


def outcome(
    proof: Proof | None,
    failure: Check | None,
    left: dict[str, list[str]] | None,
    *,
    removed: str,
) -> list[Check]:
    """The checks a run reports: the proof's, the failure that stopped it, and whether
    its teardown (``left``: what it found still there; ``None``: no teardown) left
    nothing behind."""
    results = list(proof.results if proof else [])
    if failure:
        results.append(failure)
    if left is not None:
        results.append(Check("nothing left behind", not left, removed if not left else str(left)))
    return results


def report(results: list[Check], measured: list[str], seconds: float, out: Path) -> int:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "",
        "== swarm proof report",
        *measured,
        f"total: {seconds / 60:.1f} min; load average at the end: {load}",
        "checks:",
    ]
    lines += [f"  {'PASS' if c.ok else 'FAIL'}  {c.name}: {c.detail}" for c in results]
    failed = [c.name for c in results if not c.ok]
    ok = bool(results) and not failed
    why = ", ".join(failed) or "nothing was checked"
    lines.append("swarm proof: PASSED" if ok else f"swarm proof: FAILED: {why}")
    text = "\n".join(lines)
    (out / "report.txt").write_text(text + "\n", encoding="utf-8")
    print(text, flush=True)
    return 0 if ok else 1


def _quietly(action: Any) -> Any:
    try:
        return action()
    except StackError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        return None
