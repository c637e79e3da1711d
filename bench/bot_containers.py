"""Each bot in its own Docker container, as compose runs it (``bench/fleet.py --containers``).

The container is started as ``docker-compose.production.yml``'s ``x-bot`` service is:
detached, ``init``, read-only root with a ``/tmp`` tmpfs, every capability dropped,
``no-new-privileges``, a 384 MB memory limit and the image's own health check, as the
image's user. Two differences, both for the bench's services on loopback: the host's
network, and the bench's plugin directory (the ``benchflip`` bot type) mounted
read-only. Only the configuration's variables are passed, by name, so no value
appears on a command line.

A :class:`Container` answers what the bench asks of a bot's ``Popen`` (``poll``,
``terminate``, ``wait``, ``kill``), and gives the host's pids of the bot itself and of
the runtime's two processes that serve it outside its cgroup: ``docker-init`` (the
container's pid 1) and the containerd shim above it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import bot_stack  # noqa: F401  (bench/bot_stack.py puts the repository on sys.path)

from deploy.rehearsal.stack import DOCKER

#: The configuration a bot reads; nothing else of the bench's environment goes in.
PASSED = ("ALPHA_", "BYBIT_", "POSTGRES_", "PGBOUNCER_", "REDIS_")
PLUGINS = "/opt/bench-plugin"  # where the plugin directory is mounted


def unavailable(image: str) -> str:
    """Why containers cannot be run here, or ``""``."""
    try:
        subprocess.run([DOCKER, "image", "inspect", image], check=True, capture_output=True,
                       timeout=30)  # fmt: skip
    except FileNotFoundError:
        return f"no docker client at {DOCKER}"
    except subprocess.CalledProcessError as exc:
        text = exc.stderr.decode(errors="replace").strip().splitlines()
        return f"image {image}: {text[-1] if text else 'not found'} (build it: scripts/rehearse)"
    except subprocess.TimeoutExpired:
        return "the docker engine does not answer"
    return ""


def readable_copy(plugins: Path) -> Path:
    """The plugin directory copied where the image's unprivileged user can read it (the
    bench's own directory is root's, mode 0700)."""
    out = Path(tempfile.mkdtemp(prefix="alpha-fleet-plugin-"))
    out.chmod(0o755)
    shutil.copytree(plugins, out / "p")
    for path in [out / "p", *(out / "p").rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return out / "p"


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


class Container:
    """One bot's container, answering what the bench asks of a bot's ``Popen``."""

    def __init__(self, image: str, name: str, bot_id: str, env: dict[str, str],
                 plugins: Path, health_interval: float | None = None) -> None:  # fmt: skip
        """``health_interval``: seconds between the image's health checks (``None``: the
        image's own, 15 s; 0: none)."""
        self.name = name
        passed = sorted(k for k in env if k.startswith(PASSED))
        health = (
            [] if health_interval is None
            else ["--no-healthcheck"] if health_interval == 0
            else [f"--health-interval={health_interval:g}s"]
        )  # fmt: skip
        argv = [
            DOCKER, "run", "--detach", "--name", name, "--network", "host", "--init",
            "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges:true", "--memory", "384m",
            "--volume", f"{plugins}:{PLUGINS}:ro",
            *(f"--env={k}" for k in passed), f"--env=PYTHONPATH={PLUGINS}", *health,
            image, "run", "bot", bot_id,
        ]  # fmt: skip
        started = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        if started.returncode != 0:  # a container may have been created: nothing stays
            subprocess.run([DOCKER, "rm", "-f", name], capture_output=True, timeout=60)
            lines = started.stderr.strip().splitlines() or ["no message"]
            raise SystemExit(f"docker run {name}: {lines[-1]}")
        self.init_pid = int(self._inspect("{{.State.Pid}}"))
        self.returncode: int | None = None
        self._stopping: subprocess.Popen[bytes] | None = None

    def _inspect(self, template: str) -> str:
        argv = [DOCKER, "inspect", "-f", template, self.name]
        return subprocess.run(argv, check=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()  # fmt: skip

    @property
    def pid(self) -> int:
        """The host's pid of the bot process (``docker-init``'s child)."""
        deadline = time.monotonic() + 30
        while not (children := _children(self.init_pid)):
            if time.monotonic() > deadline:
                raise SystemExit(f"{self.name}: docker-init started no bot")
            time.sleep(0.05)
        return children[0]

    @property
    def shim_pid(self) -> int:
        return _parent(self.init_pid)

    def poll(self) -> int | None:
        if self.returncode is None and not Path(f"/proc/{self.init_pid}").exists():
            try:
                self.returncode = int(self._inspect("{{.State.ExitCode}}"))
            except subprocess.CalledProcessError:  # removed already
                self.returncode = -1
        return self.returncode

    def terminate(self) -> None:
        """``docker stop``, in the background: SIGTERM, then SIGKILL after 30 s."""
        quiet = subprocess.DEVNULL
        self._stopping = subprocess.Popen([DOCKER, "stop", "-t", "30", self.name],
                                          stdout=quiet, stderr=quiet)  # fmt: skip

    def wait(self, timeout: float | None = None) -> int:
        if self._stopping is not None:
            self._stopping.wait(timeout)
        deadline = time.monotonic() + (timeout or 60)
        while self.poll() is None:
            if time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.name, timeout or 60)
            time.sleep(0.05)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        subprocess.run([DOCKER, "kill", self.name], capture_output=True, timeout=30)

    def remove(self, logs: Path) -> None:
        """Its log into ``logs/<name>.log``, then the container."""
        with (logs / f"{self.name}.log").open("wb") as out:
            subprocess.run([DOCKER, "logs", self.name], stdout=out, stderr=out, timeout=60)
        subprocess.run([DOCKER, "rm", "-f", self.name], capture_output=True, timeout=60)


def stop(containers: list[Container], logs: Path) -> None:
    """Stops them all at once (``docker stop``: 30 s, then SIGKILL), then saves each one's
    log into ``logs`` and removes it."""
    running = [c for c in containers if c.poll() is None]
    for container in running:
        container.terminate()
    for container in running:
        try:
            container.wait(45)
        except subprocess.TimeoutExpired:  # removed below all the same (rm -f)
            container.kill()
    for container in containers:
        container.remove(logs)
