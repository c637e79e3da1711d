"""A second Swarm node on this machine, and its loss: a Docker engine of its own in a
network namespace, joined to this engine's swarm as a worker.

The node is what a second machine would be to Swarm: its own engine (data root, exec
root, containerd, socket), its own address (a veth pair, ``10.231.0.2`` against this
host's ``10.231.0.1``), its own image store (the images are copied with ``docker save``
and ``load``: there is no registry), and overlay traffic between the two over that link.
Its containers run under their own cgroup parent, so losing the node can be done the way
a machine dies: every process of it SIGKILLed at once, engine and containers, with no
chance to tell the manager. Swarm then finds the node down and schedules its tasks on
the node that is left.

As root. ``remove`` undoes everything, also after a half-made start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from deploy.rehearsal.stack import DOCKER, StackError, run

NAME = "alpha-node2"
NETNS = NAME
HOST_IF, NODE_IF = "alpha-n2-host", "alpha-n2-node"
HOST_ADDR, NODE_ADDR = "10.231.0.1", "10.231.0.2"
DATA_ROOT = Path("/var/lib") / NAME
EXEC_ROOT = Path("/run") / NAME
SOCKET = EXEC_ROOT / "docker.sock"
CGROUP_PARENT = f"/{NAME}"
CGROUPS = Path("/sys/fs/cgroup")


def node_docker(*args: str, input: str | None = None, timeout: float = 120) -> str:
    """The docker CLI against the second node's engine."""
    return run([DOCKER, "-H", f"unix://{SOCKET}", *args], input=input, timeout=timeout)


def _sh(*args: str) -> None:
    done = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"{' '.join(args)}: {done.stderr.strip()}")


def start() -> None:
    """The namespace, the link and the engine; waits until the engine answers."""
    _sh("ip", "netns", "add", NETNS)
    _sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NODE_IF)
    _sh("ip", "link", "set", NODE_IF, "netns", NETNS)
    _sh("ip", "addr", "add", f"{HOST_ADDR}/24", "dev", HOST_IF)
    _sh("ip", "link", "set", HOST_IF, "up")
    inside = ("ip", "netns", "exec", NETNS)
    _sh(*inside, "ip", "link", "set", "lo", "up")
    _sh(*inside, "ip", "addr", "add", f"{NODE_ADDR}/24", "dev", NODE_IF)
    _sh(*inside, "ip", "link", "set", NODE_IF, "up")
    _sh(*inside, "ip", "route", "add", "default", "via", HOST_ADDR)
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    EXEC_ROOT.mkdir(parents=True, exist_ok=True)
    log = (EXEC_ROOT / "dockerd.log").open("ab")
    # nsenter, not `ip netns exec`: that also remounts /sys, which hides the cgroup
    # hierarchies from the engine ("Devices cgroup isn't mounted").
    engine = [
        "nsenter", f"--net=/run/netns/{NETNS}", "dockerd",
        "--data-root", str(DATA_ROOT / "data"),
        "--exec-root", str(EXEC_ROOT / "exec"),
        "--pidfile", str(EXEC_ROOT / "dockerd.pid"),
        "--host", f"unix://{SOCKET}",
        "--cgroup-parent", CGROUP_PARENT,
    ]  # fmt: skip
    subprocess.Popen(
        engine,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            node_docker("info", "--format", "{{.ServerVersion}}", timeout=10)
            return
        except StackError:
            time.sleep(1)
    raise StackError(f"the second node's engine did not answer in 60 s: {EXEC_ROOT}/dockerd.log")


def join(token: str) -> str:
    """Joins this engine's swarm (its manager advertises ``HOST_ADDR``) as a worker;
    returns the node's id."""
    node_docker("swarm", "join", "--token", token, "--advertise-addr", NODE_ADDR,
                f"{HOST_ADDR}:2377", timeout=120)  # fmt: skip
    return node_docker("info", "--format", "{{.Swarm.NodeID}}").strip()


def copy_images(images: Iterable[str]) -> None:
    """The images, from this engine into the node's (``docker save | docker load``)."""
    names = sorted(set(images))
    save = subprocess.Popen([DOCKER, "save", *names], stdout=subprocess.PIPE)
    load = subprocess.run(
        [DOCKER, "-H", f"unix://{SOCKET}", "load", "-q"],
        stdin=save.stdout,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if save.stdout is not None:
        save.stdout.close()
    if save.wait() != 0 or load.returncode != 0:
        raise StackError(f"copying the images to the second node failed: {load.stderr.strip()}")


def _node_pids() -> set[int]:
    """Every process of the node: its engine, containerd and shims (by their roots on the
    command line) and everything in its containers (by their cgroups)."""
    pids: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if NAME.encode() in cmdline:
            pids.add(int(proc.name))
    for procs in CGROUPS.glob(f"*/{NAME}/*/cgroup.procs"):
        try:
            pids.update(int(p) for p in procs.read_text().split())
        except OSError:
            continue
    pids.discard(os.getpid())
    return pids


def lose() -> int:
    """The node dies: SIGKILL to every process of it at once (no leave, no drain).
    Returns how many processes were killed."""
    killed = 0
    for _ in range(5):  # a shim may start a process while the others die
        pids = _node_pids()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.5)
    return killed


def cut() -> None:
    """A partition: the link between this host and the node goes down (a pulled cable).
    Every process of the node lives on, cut off from the manager, the data node and the
    exchange; nothing tells either side, each finds out by its own timeouts."""
    _sh("ip", "link", "set", HOST_IF, "down")


def heal() -> None:
    """The link comes back: the node reaches the manager again, and Swarm tells it which
    of its tasks were replaced meanwhile."""
    _sh("ip", "link", "set", HOST_IF, "up")


def running_containers(name_part: str) -> list[str]:
    """Names of the node's running containers whose name contains ``name_part``."""
    out = node_docker("ps", "--filter", f"name={name_part}", "--format", "{{.Names}}")
    return out.split()


def how_it_ended(container: str, lines: int = 3) -> str:
    """A container of the node: its exit code and its last log lines (both streams: the
    services log to stderr)."""
    done = subprocess.run(
        [DOCKER, "-H", f"unix://{SOCKET}", "logs", "--tail", str(lines), container],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    said = " | ".join(line[:240] for line in (done.stdout + done.stderr).splitlines())
    try:
        code = node_docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                           container).strip()  # fmt: skip
    except StackError as exc:
        code = str(exc)
    return f"{container} ({code}): {said}"


def remove(node_id: str | None) -> None:
    """Everything ``start`` and ``join`` made, whatever state it is in: the node's
    processes, its entry in the swarm, its mounts, files, link and namespace."""
    lose()
    if node_id:
        try:
            run([DOCKER, "node", "rm", "--force", node_id], timeout=60)
        except StackError:
            pass  # never joined, or already gone
    mounts = [
        line.split()[1]
        for line in Path("/proc/mounts").read_text().splitlines()
        if len(line.split()) > 1 and NAME in line.split()[1]
    ]
    for mount in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True, check=False)
    subprocess.run(["rm", "-rf", str(DATA_ROOT), str(EXEC_ROOT)], capture_output=True,
                   check=False)  # fmt: skip
    for cgroup in sorted(CGROUPS.glob(f"*/{NAME}/*"), reverse=True):
        subprocess.run(["rmdir", str(cgroup)], capture_output=True, check=False)
    for cgroup in CGROUPS.glob(f"*/{NAME}"):
        subprocess.run(["rmdir", str(cgroup)], capture_output=True, check=False)
    subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True, check=False)
