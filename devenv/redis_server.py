"""A private Redis: AOF with ``everysec`` fsync, ``noeviction``, a password, loopback only,
and optionally the production ACL users (``core/redis_acl.py``)."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from core import redis_acl
from core.errors import UserError
from devenv.ports import free_port, pid_alive, wait_until
from devenv.system import require_binary

#: The ACL user that assigns a test cluster's slots (only when ``users`` are given).
CLUSTER_ADMIN = "cluster-admin"


@dataclass
class RedisServer:
    run_dir: Path
    port: int
    host: str = "127.0.0.1"
    password: str | None = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    #: ACL users besides ``default`` (which keeps ``password``), as production has them:
    #: ``default`` then gets the operator's rules instead of every right.
    users: Sequence[tuple[redis_acl.AclUser, str]] = field(default=(), repr=False)
    #: A Redis Cluster node (docs/redis.md#redis-cluster): DB 0 only, and it refuses what
    #: a cluster refuses (CROSSSLOT). Alone it owns every slot; :class:`ClusterNodes`
    #: starts several that share them.
    cluster: bool = False
    #: A cluster node takes every slot at start unless it is one of several.
    own_every_slot: bool = True
    #: The cluster bus's port; by default Redis takes ``port + 10000``, which does not
    #: exist for a port above 55535 (free ports often are), so one is picked at start.
    bus_port: int | None = None
    #: ``cluster-node-timeout``: how long a primary may be silent before its replica
    #: takes over (Redis's default, 15 s, unless a failover test asks for less).
    node_timeout_ms: int | None = None

    @property
    def conf(self) -> Path:
        return self.run_dir / "redis.conf"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "redis.pid"

    @property
    def logfile(self) -> Path:
        return self.run_dir / "redis.log"

    def config_text(self) -> str:
        auth = f'requirepass "{self.password}"\n' if self.password else ""
        if self.users:
            assert self.password, "the default user keeps the password"
            auth = redis_acl.acl_file([(redis_acl.operator_user(), self.password), *self.users])
            if self.cluster:
                # Assigning the slots is an admin command no production user has.
                auth += f"user {CLUSTER_ADMIN} on >{self.password} ~* &* +@all\n"
        if self.cluster:
            auth += f"cluster-enabled yes\ncluster-config-file {self.run_dir / 'nodes.conf'}\n"
            auth += f"cluster-port {self.bus_port}\n" if self.bus_port else ""
            if self.password:  # a replica logs in to its primary like any client
                auth += f'masterauth "{self.password}"\n'
                auth += f"masteruser {CLUSTER_ADMIN}\n" if self.users else ""
            if self.node_timeout_ms is not None:
                auth += f"cluster-node-timeout {self.node_timeout_ms}\n"
            # A primary would wait up to 10 s on SIGTERM for replicas that are stopping
            # too (ClusterNodes.stop signals every node at once); nothing here needs it.
            auth += "shutdown-timeout 0\n"
        return (
            "# Written by devenv.redis_server: a private Redis for development and tests.\n"
            f"bind {self.host}\nport {self.port}\nprotected-mode yes\n"
            f"dir {self.run_dir}\npidfile {self.pidfile}\nlogfile {self.logfile}\n"
            "daemonize yes\ndatabases 16\n"
            # docs/redis.md#durability: positions and streams survive a restart (AOF, fsync every
            # second); a full Redis refuses writes instead of silently dropping keys.
            "appendonly yes\nappendfsync everysec\nmaxmemory-policy noeviction\n"
            'save ""\n' + auth
        )

    def client(self, db: int = 0, *, username: str | None = None) -> redis.Redis:
        return redis.Redis(
            host=self.host,
            port=self.port,
            db=db,
            credential_provider=(
                redis.UsernamePasswordCredentialProvider(username, self.password)
                if self.password
                else None
            ),
            decode_responses=True,
            socket_connect_timeout=2,
        )

    def answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def start(self) -> None:
        binary = require_binary("redis-server")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o700)
        if self.cluster and self.bus_port is None:
            self.bus_port = free_port()
        self.conf.write_text(self.config_text(), encoding="utf-8")
        self.conf.chmod(0o600)  # it holds the password
        result = subprocess.run(
            [binary, str(self.conf)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0 or not wait_until(self.answers, timeout=10):
            tail = self.logfile.read_text(errors="replace")[-500:] if self.logfile.exists() else ""
            raise UserError(f"redis-server did not start on {self.host}:{self.port}: {tail}")
        if self.cluster and self.own_every_slot:
            self._own_every_slot()

    def _own_every_slot(self) -> None:
        admin = self.client(username=CLUSTER_ADMIN if self.users else None)
        if admin.execute_command("CLUSTER INFO").get("cluster_slots_assigned") != "16384":
            admin.execute_command("CLUSTER ADDSLOTSRANGE", 0, 16383)

        def ready() -> bool:
            return bool(admin.execute_command("CLUSTER INFO").get("cluster_state") == "ok")

        if not wait_until(ready, timeout=10):
            raise UserError(f"redis cluster on {self.host}:{self.port} did not become ready")

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 10, *, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the server: ``SIGTERM`` shuts it down cleanly (the AOF is flushed),
        ``SIGKILL`` is a crash."""
        pid = self.signal(sig)
        if pid is not None:
            wait_until(lambda: not pid_alive(pid), timeout=timeout)

    def signal(self, sig: signal.Signals) -> int | None:
        """Send ``sig`` without waiting; the pid it went to (None: not running)."""
        pid = self.pid()
        if pid is None:
            return None
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return None
        return pid


@dataclass
class ClusterNodes:
    """A Redis Cluster of ``count`` primaries on loopback, the 16,384 slots split evenly
    between them: what a client meets on a shared cluster — keys on several nodes,
    ``MOVED`` redirections, pipelines split per node. With ``replicas``, each primary
    gets that many replicas, which take over when it dies (after ``node_timeout_ms``)."""

    run_dir: Path
    count: int = 3
    password: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    nodes: list[RedisServer] = field(default_factory=list)
    replicas: int = 0
    node_timeout_ms: int | None = None

    @property
    def seed(self) -> RedisServer:
        """The node clients are pointed at; they discover the others from it."""
        return self.nodes[0]

    @property
    def primaries(self) -> list[RedisServer]:
        return self.nodes[: self.count]

    def start(self) -> None:
        total = self.count * (1 + self.replicas)
        for index in range(total):
            node = RedisServer(
                run_dir=self.run_dir / f"node{index}", port=free_port(), password=self.password,
                cluster=True, own_every_slot=False, node_timeout_ms=self.node_timeout_ms,
            )  # fmt: skip
            node.start()
            self.nodes.append(node)
        bounds = [16384 * i // self.count for i in range(self.count + 1)]
        for node, first, end in zip(self.primaries, bounds, bounds[1:], strict=False):
            node.client().execute_command("CLUSTER ADDSLOTSRANGE", first, end - 1)
        seed = self.seed.client()
        for node in self.nodes[1:]:
            # The bus port is not port + 10000 here (see RedisServer.bus_port): say it.
            seed.execute_command("CLUSTER MEET", node.host, node.port, node.bus_port)
        self._wait(lambda info: info.get("cluster_known_nodes") == str(total), "meet")
        for index, node in enumerate(self.nodes[self.count :]):
            primary = self.primaries[index % self.count]
            primary_id = primary.client().execute_command("CLUSTER MYID")

            def knows(n: RedisServer = node, wanted: str = primary_id) -> bool:
                # A node must have heard of the primary through gossip before it can follow.
                known = n.client().execute_command("CLUSTER NODES")  # {"host:port": {...}}
                return any(about.get("node_id") == wanted for about in known.values())

            if not wait_until(knows, timeout=30):
                raise UserError(f"redis node {node.port} never learned of its primary")
            node.client().execute_command("CLUSTER REPLICATE", primary_id)
        self._wait(lambda info: info.get("cluster_state") == "ok", "form")

        def synced() -> bool:  # a replica that never synced cannot take over
            return all(
                n.client().execute_command("INFO", "replication").get("master_link_status") == "up"
                for n in self.nodes[self.count :]
            )

        if not wait_until(synced, timeout=30):
            raise UserError("the redis cluster's replicas did not sync with their primaries")

    def _wait(self, done: Callable[[dict[str, str]], bool], what: str) -> None:
        def every_node() -> bool:
            return all(done(n.client().execute_command("CLUSTER INFO")) for n in self.nodes)

        if not wait_until(every_node, timeout=30):
            raise UserError(f"a redis cluster of {len(self.nodes)} nodes did not {what} in 30 s")

    def flushall(self) -> None:
        for node in self.nodes:
            node.client().flushall()

    def owner(self, slot: int) -> RedisServer:
        """The primary serving ``slot`` now (after failovers and moves too)."""
        ranges = self.seed.client().execute_command("CLUSTER SLOTS")
        for first, last, primary, *_ in ranges:
            if first <= slot <= last:
                return next(n for n in self.nodes if n.port == int(primary[1]))
        raise UserError(f"no node of the redis cluster serves slot {slot}")

    def move_slot(self, slot: int, to: RedisServer, *, pause: float = 0.0) -> int:
        """Reshard ``slot`` to ``to`` while clients keep using it, as ``redis-cli
        --cluster reshard`` does: mark it importing/migrating, ``MIGRATE`` its keys one
        at a time (``pause`` seconds apart, so clients meet the half-moved slot and its
        ``ASK`` redirections), then give it to ``to`` on every primary. Returns the
        number of keys moved."""
        source = self.owner(slot)
        src, dst = source.client(), to.client()
        src_id, dst_id = src.execute_command("CLUSTER MYID"), dst.execute_command("CLUSTER MYID")
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", dst_id)
        time.sleep(pause)  # migrating, its keys still here
        moved = 0
        while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 1):
            src.execute_command(
                "MIGRATE", to.host, to.port, "", 0, 5000, "AUTH", self.password, "KEYS", *keys
            )
            moved += len(keys)
            time.sleep(pause)
        for node in (dst, src, *(p.client() for p in self.primaries if p not in (source, to))):
            node.execute_command("CLUSTER SETSLOT", slot, "NODE", dst_id)
        return moved

    def stop(self, timeout: float = 10) -> None:
        """Every node at once: a Redis takes one to two seconds to exit after ``SIGTERM``
        (here), and one node after another made each cluster's teardown 6 to 12 s."""
        pids = [pid for node in self.nodes if (pid := node.signal(signal.SIGTERM)) is not None]
        deadline = time.monotonic() + timeout
        while alive := [pid for pid in pids if pid_alive(pid)]:
            if time.monotonic() >= deadline:
                for pid in alive:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                return
            # Seen here: a replica that was signalled as its primary went away never
            # logged the signal and kept running; another SIGTERM stops it.
            time.sleep(0.5)
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
