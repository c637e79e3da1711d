"""The Swarm proof across two nodes: lose the node the listener runs on.

``scripts/swarm-rehearse --second-node``: this engine is the manager and the data node
(PostgreSQL, Redis and the paper exchange are pinned to it); a second engine on this
machine (``second_node.py``: its own network namespace, address, image store and
containerd) joins as a worker. The stack is deployed across both, the listener is made
to run on the worker, the bots trade, and then the worker dies: every process of it
SIGKILLed at once. Swarm has to notice the node is down and start its tasks — the
listener among them — on the manager, with nothing lost: the same ledger check as the
single-node proof, against every execution the exchange reports.

With ``--partition`` the worker is cut off instead (its link down) while everything on
it lives on, then joined again: the tasks Swarm replaced meanwhile must stop there.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from deploy.rehearsal import images, observe
from deploy.rehearsal.run import say
from deploy.rehearsal.stack import DOCKER, ROOT, StackError, run, write_env
from deploy.swarm import second_node
from deploy.swarm.proof import (
    FILES,
    HERE,
    LISTENER,
    Attempt,
    Options,
    Proof,
    guarded,
    leave_swarm,
    secret_values,
)
from deploy.swarm.swarm_stack import (
    SwarmStack,
    create_secrets,
    label_data_node,
    node_state,
)

#: How long the listener may take to move to the manager after the worker dies.
RESCHEDULE_SECONDS = 300
#: How long a worker whose link came back may take to stop the tasks Swarm replaced.
REJOIN_SECONDS = 180


class ClusterStack(SwarmStack):
    """A stack whose services may run on the other node: health is the task's state
    (Swarm reports a task with a health check as running only once it is healthy),
    not a local container's."""

    def healthy(self, service: str) -> bool:
        try:
            tasks = self.tasks(service)
        except StackError:
            return False
        running = [t for t in tasks if t.desired.lower() == "running"]
        return bool(running) and running[0].current.startswith("Running")

    def on_node(self, node_id: str) -> list[str]:
        """The services with a task meant to run on ``node_id``."""
        out = run([DOCKER, "node", "ps", node_id, "--filter", "desired-state=running",
                   "--format", "{{.Name}}"])  # fmt: skip
        prefix = f"{self.project}_"
        names = {line.split(".")[0] for line in out.split() if line.startswith(prefix)}
        return sorted(name[len(prefix) :] for name in names)


class NodeLoss(Proof):
    stack: ClusterStack

    def listener_on_worker(self, worker: str) -> bool:
        """Moves the listener to the worker: a placement constraint puts it there, and
        is then taken off again. Swarm does not restart a task for a constraint change
        its node still satisfies, so the task stays, free to go to any node later."""
        if LISTENER not in self.stack.on_node(worker):
            say("moving the listener to the second node")
            service = self.stack.service_name(LISTENER)
            run([DOCKER, "service", "update", "--quiet", "--constraint-add",
                 "node.role==worker", service], timeout=300)  # fmt: skip
            run([DOCKER, "service", "update", "--quiet", "--constraint-rm",
                 "node.role==worker", service], timeout=300)  # fmt: skip
        on_worker = self.stack.on_node(worker)
        self.measured.append("services on the worker: " + ", ".join(on_worker))
        _, bad = self.stack.wait(self.long_running, [], timeout=240)
        return self.check(
            "the listener runs on the second node",
            LISTENER in on_worker and not bad,
            f"{len(on_worker)} services there: {', '.join(on_worker)}"
            + (f"; not healthy: {', '.join(bad)}" if bad else ""),
        )

    def lose_worker(self, worker: str) -> bool:
        return self._tasks_move(worker, "lost", second_node.lose, "SIGKILL to its {} processes")

    def partition_worker(self, worker: str) -> bool:
        """The worker is cut off, not dead: its listener lives on behind the partition
        while Swarm starts another on the manager. Then the link comes back."""
        old = second_node.running_containers(f"{self.stack.project}_{LISTENER}.")
        if not self._tasks_move(worker, "cut off", second_node.cut, "its link down{}"):
            return False
        return self._rejoin(worker, old)

    def _tasks_move(self, worker: str, what: str, disrupt: Callable[[], object], how: str) -> bool:
        """``disrupt`` the worker; its tasks must run healthy on the manager, and the
        ledger grow again."""
        before = self.fills()
        if not self.check(f"bots traded before the node was {what}", before > 0,
                          f"{before} fills"):  # fmt: skip
            return False
        moved = self.stack.on_node(worker)
        lost = time.time()
        done = disrupt()
        say(f"second node {what}: " + how.format("" if done is None else done))
        down_at = 0.0
        while time.time() - lost < RESCHEDULE_SECONDS:
            state = run([DOCKER, "node", "inspect", worker, "--format", "{{.Status.State}}"])
            if not down_at and state.strip() == "down":
                down_at = time.time()
                say(f"the manager sees the node down after {down_at - lost:.0f} s")
            if (
                down_at
                and not self.stack.on_node(worker)
                and all(self.stack.healthy(s) for s in moved)
            ):
                break
            time.sleep(2)
        back = time.time()
        bad = [s for s in moved if not self.stack.healthy(s)]
        self.measured.append(
            f"node {what} → manager sees it down: {down_at - lost:.0f} s; → every task of "
            f"it healthy on the manager: {back - lost:.0f} s"
            if down_at
            else "the manager never saw the node down"
        )
        local = ""
        try:
            local = self.stack.container(LISTENER)
        except StackError:
            pass
        self.check(
            f"the {what} node's tasks run on the manager",
            bool(down_at) and not bad and bool(local),
            f"{len(moved)} services ({', '.join(moved)}) healthy here {back - lost:.0f} s "
            f"after the node was {what}; the listener is container {local[:12]}"
            if down_at and not bad and local
            else f"still not healthy after {back - lost:.0f} s: {', '.join(bad) or LISTENER}",
        )
        while not observe.new_fills_since(self.stack, back):
            if time.time() - back > 150:
                return self.check("ledger growing again", False, "no fill in the 150 s after")
            time.sleep(2)
        return self.check(
            "ledger growing again",
            True,
            f"a new fill {time.time() - back:.0f} s after the moved tasks were healthy",
        )

    def _rejoin(self, worker: str, old_listener: list[str]) -> bool:
        """The link back: the node must be ready again and stop the tasks Swarm replaced,
        the old listener among them, which must not have written meanwhile (its lease
        and the ledger's writer row are the new one's: ``verify`` checks the ledger)."""
        healed = time.time()
        second_node.heal()
        say("the link to the second node is back")
        ready_at = stopped_at = 0.0
        running: list[str] = []
        while time.time() - healed < REJOIN_SECONDS:
            state = run([DOCKER, "node", "inspect", worker, "--format", "{{.Status.State}}"])
            if not ready_at and state.strip() == "ready":
                ready_at = time.time()
                say(f"the manager sees the node ready after {ready_at - healed:.0f} s")
            try:
                running = second_node.running_containers(f"{self.stack.project}_")
            except StackError:
                running = ["(its engine does not answer)"]
            if ready_at and not running:
                stopped_at = time.time()
                break
            time.sleep(2)
        self.measured.append(
            f"link back → node ready: {ready_at - healed:.0f} s; → the replaced tasks "
            f"stopped there: {stopped_at - healed:.0f} s"
            if stopped_at
            else f"link back: node {'ready' if ready_at else 'not ready'}, still running "
            f"there after {REJOIN_SECONDS} s: {', '.join(running)}"
        )
        for name in old_listener:
            self.measured.append("the old listener: " + second_node.how_it_ended(name))
        return self.check(
            "the rejoined node stops the replaced tasks",
            bool(stopped_at),
            f"ready {ready_at - healed:.0f} s after the link came back, nothing of the "
            f"stack running there {stopped_at - healed:.0f} s after"
            if stopped_at
            else f"still running there after {REJOIN_SECONDS} s: {', '.join(running)}",
        )


def prove_two_nodes(opts: Options) -> int:
    out = (ROOT / opts.out).resolve()
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    stack = ClusterStack(opts.project, out / ".env", files=[*FILES, HERE / "two_nodes.yml"])
    worker = ""

    def body(attempt: Attempt) -> None:
        nonlocal worker
        if node_state() != "inactive":
            raise StackError("this engine is in a swarm already: leave it first "
                             "(docker swarm leave --force)")  # fmt: skip
        chosen, _ = images.build_all(no_build=opts.no_build, log=say)
        env = write_env(out / ".env", chosen, "manual", opts.seed)
        second_node.remove(None)  # what an interrupted earlier run left
        second_node.start()
        run([DOCKER, "swarm", "init", "--advertise-addr", second_node.HOST_ADDR], timeout=120)
        token = run([DOCKER, "swarm", "join-token", "-q", "worker"]).strip()
        worker = second_node.join(token)
        say(f"two-node swarm: this engine (manager, data) and {worker[:12]} "
            f"at {second_node.NODE_ADDR}")  # fmt: skip
        label_data_node()
        copy_started = time.monotonic()
        second_node.copy_images(v for k, v in chosen.items() if k != "ALPHA_BASE_IMAGE")
        say(f"images copied to the second node in {time.monotonic() - copy_started:.0f} s")
        create_secrets(secret_values(env))
        proof = attempt.proof = NodeLoss(opts, stack, env)
        if proof.deploy() and proof.listener_on_worker(worker):
            disrupt = proof.partition_worker if opts.partition else proof.lose_worker
            proof.course(lambda: disrupt(worker))

    attempt = Attempt(
        opts, stack, out,
        removing="the stack, the second node, its volumes and the secrets",
        removed="stack, volumes, secrets, second node removed",
        undo=[lambda: second_node.remove(worker or None), leave_swarm],
    )  # fmt: skip
    return guarded(attempt, body)
