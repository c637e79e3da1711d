"""The faults, each done through Docker itself while the bots trade."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from deploy.rehearsal.stack import DOCKER, Stack, StackError, run

#: SIGKILL to the service's process (PID 1's child; PID 1 is the init compose adds).
#: Docker counts `docker kill` as an operator's stop and then ignores the restart policy,
#: so a crash is what this is: the process dies, the container exits 137, and only the
#: restart policy can bring it back.
_KILL_MAIN_PROCESS = """
import os, signal
for pid in os.listdir("/proc"):
    if pid.isdigit() and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1] == "1":
        os.kill(int(pid), signal.SIGKILL)
"""


@dataclass
class Fault:
    name: str
    service: str
    started: float = 0.0
    recovered_after: float | None = None  # seconds from the fault to all healthy again
    detail: str = ""
    window: tuple[float, float] | None = None  # a network cut: (cut, reconnected)
    notes: list[str] = field(default_factory=list)


def unhealthy(stack: Stack, services: Iterable[str]) -> list[str]:
    bad = []
    for service in services:
        try:
            status, health = stack.state(service)
        except StackError:
            bad.append(f"{service} (no container)")
            continue
        if status != "running" or health not in ("healthy", ""):
            bad.append(f"{service} ({status}{', ' + health if health else ''})")
    return bad


def wait_healthy(stack: Stack, services: list[str], timeout: float) -> list[str]:
    """Waits until every service runs and is healthy; returns those that still are not."""
    deadline = time.monotonic() + timeout
    while True:
        bad = unhealthy(stack, services)
        if not bad or time.monotonic() > deadline:
            return bad
        time.sleep(2)


#: The exit status of a process ended by SIGKILL (128 + 9).
KILLED = 137

#: Asked after a fault whether a fill reached the ledger after a given time.
Advancing = Callable[[float], bool]
#: Fills come every few seconds at the rehearsal's speed; this is generous.
ADVANCE_S = 150.0


def restart_counts(stack: Stack, services: Iterable[str]) -> dict[str, int]:
    """How often Docker's restart policy has restarted each service's container (a
    service without a container is left out: :func:`unhealthy` reports it)."""
    counts = {}
    for service in services:
        try:
            counts[service] = int(stack.inspect(service)["RestartCount"])
        except StackError:
            continue
    return counts


def _recover(
    fault: Fault,
    stack: Stack,
    services: list[str],
    timeout: float,
    advancing: Advancing,
    before: dict[str, int],
) -> Fault:
    """All healthy again, and then the ledger growing again: a health check alone can
    report healthy before a service has even noticed the fault. And no other service
    died of it: one that Docker restarted meanwhile crashed instead of riding the fault
    out, however soon it was healthy again (``before``: :func:`restart_counts` taken
    before the fault)."""
    time.sleep(3)  # let the fault be seen before asking whether it is over
    bad = wait_healthy(stack, services, timeout)
    if bad:
        fault.detail = f"not healthy {timeout:.0f} s after the fault: {', '.join(bad)}"
        return fault
    now = restart_counts(stack, before)
    crashed = [f"{s} ({before[s]} -> {now[s]})" for s in sorted(before)
               if s != fault.service and now.get(s, 0) > before[s]]  # fmt: skip
    if crashed:
        fault.detail = f"crashed and restarted by Docker meanwhile: {', '.join(crashed)}"
        return fault
    healthy = time.time()
    fault.notes.append(f"all healthy after {healthy - fault.started:.0f} s")
    while not advancing(healthy):
        if time.time() - healthy > ADVANCE_S:
            fault.detail = f"healthy, but no fill reached the ledger in the {ADVANCE_S:.0f} s after"
            return fault
        time.sleep(2)
    fault.recovered_after = time.time() - fault.started
    return fault


def crash_listener(
    stack: Stack, services: list[str], advancing: Advancing, timeout: float = 120
) -> Fault:
    fault = Fault("kill -9 of the listener's process", "websocket_listener")
    counts = restart_counts(stack, services)
    before = stack.inspect("websocket_listener")["RestartCount"]
    fault.started = time.time()
    try:
        stack.exec("websocket_listener", "python", "-c", _KILL_MAIN_PROCESS)
    except StackError as exc:
        # The container ends with its process and takes this exec down with it (SIGKILL,
        # exit 137) when it goes before the exec has returned, as it does on a loaded
        # machine: that is the crash itself. The restart count below says whether it was.
        if exc.returncode != KILLED:
            raise
    _recover(fault, stack, services, timeout, advancing, counts)
    if fault.detail:
        return fault
    after = stack.inspect("websocket_listener")["RestartCount"]
    if after <= before:
        fault.recovered_after = None
        policy = stack.inspect("websocket_listener")["HostConfig"]["RestartPolicy"]["Name"]
        fault.detail = (f"websocket_listener was not restarted after its process was killed "
                        f"(restart policy: {policy or 'none'})")  # fmt: skip
    return fault


#: The exit status of a process refused by another's lease (core/lease.py).
LEASE_HELD = 73


def second_listener(
    stack: Stack, services: list[str], advancing: Advancing, timeout: float = 120
) -> Fault:
    """A second listener container beside the running one, as a cluster engine starts
    one when a partition hides the first: it must exit 73 without writing, and the
    running one must go on undisturbed (not restarted, fills still reaching the ledger).
    ``compose run`` makes a new container (a new hostname), with the same volumes,
    spool included."""
    fault = Fault("a second listener started beside the running one", "websocket_listener")
    counts = restart_counts(stack, services)
    before = counts.get("websocket_listener", 0)
    fault.started = time.time()
    try:
        stack.compose("run", "--rm", "--no-deps", "-T", "websocket_listener", timeout=timeout)
    except StackError as exc:
        if exc.returncode != LEASE_HELD:
            fault.detail = f"the second listener did not exit {LEASE_HELD}: {exc}"
            return fault
        said = str(exc).rpartition(f"exited {LEASE_HELD}: ")[2]
        fault.notes.append(
            f"the second one exited {LEASE_HELD} after {time.time() - fault.started:.0f} s"
            f" ({said[-160:]})"
        )
    else:
        fault.detail = "the second listener ran beside the first and exited 0"
        return fault
    if stack.inspect("websocket_listener")["RestartCount"] != before:
        fault.detail = "the running listener was restarted meanwhile"
        return fault
    return _recover(fault, stack, services, timeout, advancing, counts)


def restart(
    stack: Stack, service: str, services: list[str], advancing: Advancing, timeout: float = 180
) -> Fault:
    fault = Fault(f"restart of {service}", service)
    counts = restart_counts(stack, services)
    fault.started = time.time()
    stack.compose("restart", service, timeout=timeout)
    return _recover(fault, stack, services, timeout, advancing, counts)


def cut_network(
    stack: Stack,
    service: str,
    network: str,
    services: list[str],
    advancing: Advancing,
    *,
    hold: float,
    longest: float,
    seen: Callable[[float], bool],
) -> Fault:
    """Disconnects ``service`` from ``network`` for at least ``hold`` seconds and until
    ``seen(cut_time)`` says the consequence was observed (at most ``longest``)."""
    fault = Fault(f"{service} cut off the exchange's network", service)
    container = stack.container(service)
    counts = restart_counts(stack, services)
    fault.started = time.time()
    run([DOCKER, "network", "disconnect", network, container])
    try:
        while True:
            time.sleep(2)
            held = time.time() - fault.started
            if held >= longest or (held >= hold and seen(fault.started)):
                break
    finally:
        run([DOCKER, "network", "connect", network, container])
    fault.window = (fault.started, time.time())
    fault.notes.append(f"cut for {fault.window[1] - fault.window[0]:.0f} s")
    return _recover(fault, stack, services, 180, advancing, counts)


def kill_bot(
    stack: Stack, service: str, services: list[str], advancing: Advancing, timeout: float = 120
) -> Fault:
    """`docker kill` of a bot's container, then started again as an operator would."""
    fault = Fault(f"docker kill of {service}, then docker compose up", service)
    counts = restart_counts(stack, services)
    fault.started = time.time()
    run([DOCKER, "kill", "-s", "KILL", stack.container(service)])
    time.sleep(2)
    stack.compose("up", "-d", "--no-build", "--no-deps", service)
    return _recover(fault, stack, services, timeout, advancing, counts)
