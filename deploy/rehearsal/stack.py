"""One compose project of the production file: its secrets, commands and events."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_FILE = ROOT / "docker-compose.production.yml"
REHEARSAL_FILE = Path(__file__).with_name("compose.rehearsal.yml")
#: Debian's client: the classic builder, no buildx needed.
DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
#: No image of it can be built from Debian's packages, and none can be pulled here.
NOT_RUN = ("grafana",)


class StackError(RuntimeError):
    """A docker or compose command failed; the message says which and why."""

    def __init__(self, message: str, returncode: int | None = None) -> None:
        super().__init__(message)
        #: The command's exit status, when it ran and exited (None: it did not answer).
        self.returncode = returncode


def run(
    args: Sequence[str],
    *,
    input: str | None = None,
    timeout: float = 600,
    env: Mapping[str, str] | None = None,
) -> str:
    """Runs a command, returns its stdout; a failure raises with the command's last words.
    ``env``: the command's whole environment (default: this process's)."""
    try:
        done = subprocess.run(
            list(args), input=input, capture_output=True, text=True, timeout=timeout,
            check=False, env=None if env is None else dict(env),
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{' '.join(args[:4])} …: no answer within {timeout:.0f} s") from exc
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise StackError(
            f"{' '.join(args[:5])} … exited {done.returncode}: {' / '.join(tail)}",
            done.returncode,
        )
    return done.stdout


def secret() -> str:
    return secrets.token_urlsafe(24)


def write_env(path: Path, images: dict[str, str], speed: str, seed: int) -> dict[str, str]:
    """The ``.env`` of a paper deployment: fresh random secrets, our images, 0600.

    The Redis password carries ``"`` and ``\\`` on purpose: the generated Redis config
    must quote them (it once broke on them)."""
    env = {
        "BYBIT_ENV": "paper",
        "COMPOSE_PROFILES": "paper,monitoring",
        **images,
        "POSTGRES_PASSWORD": secret(),
        "ALPHA_DB_OWNER_PASSWORD": secret(),
        "ALPHA_DB_LISTENER_PASSWORD": secret(),
        "ALPHA_DB_APP_PASSWORD": secret(),
        "ALPHA_DB_BOT_PASSWORD": secret(),
        "ALPHA_DB_SYNC_PASSWORD": secret(),
        "ALPHA_DB_BACKUP_PASSWORD": secret(),
        "ALPHA_DB_COLLECTOR_PASSWORD": secret(),
        "ALPHA_DB_READONLY_PASSWORD": secret(),
        "REDIS_PASSWORD": secret() + '"\\q',
        **{
            f"REDIS_{role}_PASSWORD": secret()
            for role in ("LISTENER", "SYNC", "C2", "API", "BACKUP", "CLAIMS")
        },
        **{
            f"{bot}_REDIS_PASSWORD": secret()
            for bot in ("SHORTSELLER", "LXALGO", "MOMENTUM", "ORDERBLOCK")
        },
        "GRAFANA_ADMIN_PASSWORD": secret(),
        "C2_TELEGRAM_BOT_TOKEN": f"{secrets.randbelow(10**9)}:{secret()}",
        "C2_TELEGRAM_ADMIN_IDS": "1001",
        "C2_TELEGRAM_VIEWER_IDS": "1002",
        # The fake Bot API container of compose.rehearsal.yml.
        "C2_TELEGRAM_API_BASE_URL": "http://fake-telegram:8081",
        # Long enough history that Momentum's 4-hour indicators are warm at the start.
        "PAPER_SCENARIO": "production",
        "PAPER_HISTORY_MINUTES": "28800",
        "PAPER_SEED": str(seed),
        "PAPER_SPEED": speed,
        # Thin alts, deep BTC, resting limits filled by the traded volume: bot orders
        # fill in pieces and slip, as on Bybit (the "partial fills" check wants some).
        "PAPER_LIQUIDITY": "realistic",
        # Drift is looked for every 10 s, so a 30 s cut is seen while it lasts.
        "SYNC_POSITION_DRIFT_SECONDS": "10",
        "SYNC_EXECUTION_AUDIT_SECONDS": "30",
    }
    # The paper exchange knows one key per account: read and trade keys are the same.
    for account, bots in (
        ("MAIN", ("SHORTSELLER", "LXALGO")),
        ("MOMENTUM", ("MOMENTUM",)),
        ("ORDERBLOCK", ("ORDERBLOCK",)),
    ):
        key, value = "rh" + secrets.token_hex(8), secrets.token_hex(16)
        env[f"{account}_READ_API_KEY"], env[f"{account}_READ_API_SECRET"] = key, value
        for bot in bots:
            env[f"{bot}_BYBIT_API_KEY"], env[f"{bot}_BYBIT_API_SECRET"] = key, value
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.writelines(f"{k}={v}\n" for k, v in env.items())
    return env


@dataclass
class Stack:
    project: str
    env_file: Path

    def compose(self, *args: str, input: str | None = None, timeout: float = 600) -> str:
        files = ["-f", str(PRODUCTION_FILE), "-f", str(REHEARSAL_FILE)]
        base = [DOCKER, "compose", "-p", self.project, "--env-file", str(self.env_file)]
        return run([*base, "--project-directory", str(ROOT), *files, *args],
                   input=input, timeout=timeout)  # fmt: skip

    def config(self) -> dict[str, Any]:
        """The resolved configuration (profiles and the override applied)."""
        return json.loads(self.compose("config", "--format", "json"))

    def services(self) -> list[str]:
        return [s for s in self.compose("config", "--services").split() if s not in NOT_RUN]

    def container(self, service: str) -> str:
        ids = self.compose("ps", "-a", "-q", service).split()
        if not ids:
            raise StackError(f"{service}: no container")
        return ids[0]

    def inspect(self, service: str) -> dict[str, Any]:
        return json.loads(run([DOCKER, "inspect", self.container(service)]))[0]

    def state(self, service: str) -> tuple[str, str]:
        """(status, health): e.g. ("running", "healthy"), ("exited", "")."""
        state = self.inspect(service)["State"]
        return state["Status"], (state.get("Health") or {}).get("Status", "")

    def exec(self, service: str, *args: str, input: str | None = None, timeout: float = 120) -> str:
        return self.compose("exec", "-T", service, *args, input=input, timeout=timeout)

    def python(self, service: str, probe: str, *args: str, timeout: float = 300) -> str:
        """Runs a script of probes/ with the service's interpreter, environment and networks."""
        script = (Path(__file__).with_name("probes") / probe).read_text(encoding="utf-8")
        return self.exec(service, "python", "-", *args, input=script, timeout=timeout)

    def psql(self, sql: str) -> list[list[str]]:
        """Rows of a query as the administrative login, inside the postgres container."""
        out = self.exec(
            "postgres", "sh", "-c",
            'psql -X -q -At -F "\t" -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d alpha',
            input=sql,
        )  # fmt: skip
        return [line.split("\t") for line in out.splitlines() if line]


@dataclass(frozen=True)
class Event:
    """A container event of the project, as ``docker events`` reports it."""

    at: float  # seconds since the epoch
    service: str
    action: str  # start, die, health_status: healthy, …
    exit_code: str = ""


class EventLog:
    """Records the project's container events from before ``up`` to the end."""

    def __init__(self, project: str) -> None:
        self.events: list[Event] = []
        self._proc = subprocess.Popen(
            [DOCKER, "events", "--format", "{{json .}}", "--filter", "type=container",
             "--filter", f"label=com.docker.compose.project={project}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        time.sleep(0.5)  # the engine must have the subscription before anything starts

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                continue
            attrs = (raw.get("Actor") or {}).get("Attributes") or {}
            self.events.append(
                Event(
                    at=int(raw.get("timeNano", 0)) / 1e9,
                    service=attrs.get("com.docker.compose.service", ""),
                    action=str(raw.get("status") or raw.get("Action") or ""),
                    exit_code=str(attrs.get("exitCode", "")),
                )
            )

    def close(self) -> list[Event]:
        self._proc.terminate()
        self._proc.wait(timeout=10)
        return list(self.events)
