"""One Swarm stack, seen through the rehearsal's ``Stack`` so its probes work unchanged.

The rehearsal's probes and observations call ``exec``, ``python``, ``psql`` and ``state``
on a compose service; here a service is ``<stack>_<service>`` and its container is the
one running task's (a stack has one task per singleton on this single node).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from deploy.rehearsal.stack import DOCKER, Stack, StackError, run


@dataclass(frozen=True)
class Task:
    id: str
    desired: str  # running, shutdown
    current: str  # "Running 2 minutes ago", "Complete 1 minute ago", "Failed …"
    error: str


@dataclass
class SwarmStack(Stack):
    files: list[Path] = field(default_factory=list)

    def service_name(self, service: str) -> str:
        return f"{self.project}_{service}"

    def deploy(self, env: Mapping[str, str]) -> str:
        """``docker stack deploy`` of the files; ``env`` fills in their ``${VAR}``s.
        Returns what it printed on both streams (its warnings go to stderr)."""
        files = [arg for path in self.files for arg in ("-c", str(path))]
        # No registry here: the images are local, never resolved to a registry digest.
        args = [DOCKER, "stack", "deploy", "--resolve-image", "never", *files, self.project]
        done = subprocess.run(
            args, capture_output=True, text=True, env=dict(env), timeout=300, check=False
        )
        if done.returncode != 0:
            tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise StackError(f"docker stack deploy exited {done.returncode}: {tail}")
        return done.stdout + done.stderr

    def remove(self) -> None:
        run([DOCKER, "stack", "rm", self.project], timeout=120)

    def services(self) -> list[str]:
        out = run([DOCKER, "stack", "services", "--format", "{{.Name}}", self.project])
        prefix = f"{self.project}_"
        return sorted(name[len(prefix) :] for name in out.split() if name.startswith(prefix))

    def tasks(self, service: str) -> list[Task]:
        """The service's tasks, newest first."""
        out = run(
            [
                DOCKER,
                "service",
                "ps",
                "--no-trunc",
                "--format",
                "{{.ID}}\t{{.DesiredState}}\t{{.CurrentState}}\t{{.Error}}",
                self.service_name(service),
            ]
        )
        tasks = []
        for line in out.splitlines():
            parts = [*line.split("\t"), "", "", ""][:4]
            tasks.append(Task(*parts))
        return tasks

    def container(self, service: str) -> str:
        ids = run(
            [
                DOCKER,
                "ps",
                "-q",
                "--filter",
                "status=running",
                "--filter",
                f"label=com.docker.swarm.service.name={self.service_name(service)}",
            ]
        ).split()
        if not ids:
            raise StackError(f"{service}: no running task")
        return ids[0]

    def exec(self, service: str, *args: str, input: str | None = None, timeout: float = 120) -> str:
        return run(
            [DOCKER, "exec", "-i", self.container(service), *args], input=input, timeout=timeout
        )

    def compose(self, *args: str, input: str | None = None, timeout: float = 600) -> str:
        raise StackError("a Swarm stack has no compose project")

    def spec(self, service: str) -> str:
        """``docker service inspect`` of the service, as text (what anyone with access to
        the manager can read)."""
        return run([DOCKER, "service", "inspect", self.service_name(service)])

    def healthy(self, service: str) -> bool:
        try:
            status, health = self.state(service)
        except StackError:
            return False
        return status == "running" and health in ("healthy", "")

    def completed(self, service: str) -> bool:
        tasks = self.tasks(service)
        return bool(tasks) and tasks[0].current.startswith("Complete")

    def wait(
        self, long_running: list[str], one_shots: list[str], timeout: float
    ) -> tuple[float, list[str]]:
        """Waits until every long-running service has a healthy task and every one-shot
        has completed; returns (seconds waited, those still not there)."""
        started = time.monotonic()
        while True:
            bad = [s for s in long_running if not self.healthy(s)]
            bad += [f"{s} (not complete)" for s in one_shots if not self.completed(s)]
            waited = time.monotonic() - started
            if not bad or waited > timeout:
                return waited, bad
            time.sleep(3)


def node_state() -> str:
    """This engine's swarm state: inactive, active, pending, error, locked."""
    return run([DOCKER, "info", "--format", "{{.Swarm.LocalNodeState}}"]).strip()


def init_swarm() -> bool:
    """Makes this engine a single-node swarm unless it is in one; True when it did."""
    if node_state() == "active":
        return False
    try:
        run([DOCKER, "swarm", "init"], timeout=120)
    except StackError as exc:
        # A machine with several addresses must be told which one to advertise; a single
        # node talks only to itself.
        if "advertise" not in str(exc):
            raise
        run([DOCKER, "swarm", "init", "--advertise-addr", "127.0.0.1"], timeout=120)
    return True


def label_data_node() -> None:
    """Stateful services are pinned to nodes labelled alpha.data=true (generate.py)."""
    node = run([DOCKER, "info", "--format", "{{.Swarm.NodeID}}"]).strip()
    run([DOCKER, "node", "update", "--label-add", "alpha.data=true", node])


def create_secrets(values: Mapping[str, str]) -> None:
    """One Swarm secret per value, replacing an earlier run's of the same name."""
    for name, value in values.items():
        try:
            run([DOCKER, "secret", "rm", name])
        except StackError:
            pass  # not there
        run([DOCKER, "secret", "create", name, "-"], input=value)


def remove_secrets(names: list[str]) -> None:
    if names:
        run([DOCKER, "secret", "rm", *names])


def leftovers(project: str) -> dict[str, list[str]]:
    """What of the stack is still on the engine: containers, networks, volumes."""
    label = f"label=com.docker.stack.namespace={project}"
    return {
        "containers": run([DOCKER, "ps", "-aq", "--filter", label]).split(),
        "networks": run([DOCKER, "network", "ls", "-q", "--filter", label]).split(),
        "volumes": run([DOCKER, "volume", "ls", "-q", "--filter", label]).split(),
    }


def teardown(stack: SwarmStack, secrets: list[str], timeout: float = 180) -> dict[str, list[str]]:
    """Removes the stack, then its volumes and the secrets; returns what is left."""
    stack.remove()
    deadline = time.monotonic() + timeout
    left = leftovers(stack.project)
    while (left["containers"] or left["networks"]) and time.monotonic() < deadline:
        time.sleep(2)
        left = leftovers(stack.project)
    if left["volumes"] and not left["containers"]:
        run([DOCKER, "volume", "rm", *left["volumes"]])
    try:
        remove_secrets(secrets)
    except StackError:
        pass  # reported below as left over
    left = leftovers(stack.project)
    left["secrets"] = [s for s in secrets if _exists("secret", s)]
    return {k: v for k, v in left.items() if v}


def _exists(kind: str, name: str) -> bool:
    try:
        json.loads(run([DOCKER, kind, "inspect", name]))
    except StackError:
        return False
    return True
