"""The demo's processes: one table row per service, each a separate ``alpha run …`` child.

The rows mirror docker-compose.production.yml: same verbs, same BOT_IDs and Redis DBs,
two bots sharing the main account and two on accounts of their own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def alpha_command() -> list[str]:
    """The ``alpha`` of this interpreter's environment, even when its bin is not on PATH."""
    beside = Path(sys.executable).with_name("alpha")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("alpha")
    return [found] if found else [sys.executable, "-m", "core.cli"]


@dataclass(frozen=True)
class DemoBot:
    bot_id: str
    bot_type: str
    code: str
    account: str
    redis_db: int
    symbols: str

    @property
    def exclusive(self) -> bool:
        return self.account != "main"


BOTS = (
    DemoBot("shortseller_001", "shortseller", "ss1", "main", 0, "BTCUSDT,ETHUSDT,SOLUSDT"),
    DemoBot("lxalgo_001", "lxalgo", "lx1", "main", 1, "BTCUSDT"),
    DemoBot("momentum_001", "momentum", "mo1", "momentum", 2, "BTCUSDT,ETHUSDT,SOLUSDT"),
    DemoBot("orderblock_001", "orderblock", "ob1", "orderblock", 3, "BTCUSDT"),
)

#: Paper-exchange API keys per account (the paper exchange knows one key per account).
ACCOUNT_KEYS = {
    "main": ("demo-main-key", "demo-main-secret"),
    "momentum": ("demo-momentum-key", "demo-momentum-secret"),
    "orderblock": ("demo-orderblock-key", "demo-orderblock-secret"),
}


def account_env(accounts: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    """``BYBIT_API_KEY`` for main, ``BYBIT_ACCOUNT_<NAME>_API_KEY`` for the others."""
    env: dict[str, str] = {}
    for name, (key, secret) in accounts.items():
        prefix = "BYBIT" if name == "main" else f"BYBIT_ACCOUNT_{name.upper()}"
        env[f"{prefix}_API_KEY"] = key
        env[f"{prefix}_API_SECRET"] = secret
    return env


@dataclass(frozen=True)
class ServiceSpec:
    """One row: a name, the ``alpha`` arguments, its extra environment, the run verb it needs."""

    name: str
    args: tuple[str, ...]
    env: Mapping[str, str]
    verb: str
    optional: bool = False  # e.g. the C2 without a Telegram token


class Child:
    """A running ``alpha`` process with its log file."""

    def __init__(self, spec: ServiceSpec, env: Mapping[str, str], log_dir: Path) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{spec.name}.log"
        self._log: IO[bytes] = self.log_path.open("ab")
        # Its own process group: a Ctrl-C in the terminal reaches the demo, which then
        # stops the children in order, instead of every child dying at once.
        self.proc = subprocess.Popen(
            [*alpha_command(), *spec.args],
            env=dict(env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self) -> None:
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.alive:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def close(self) -> None:
        self._log.close()


def stop_all(children: list[Child], timeout: float = 30) -> dict[str, int | None]:
    """SIGTERM to all of them at once, wait up to ``timeout``, then SIGKILL stragglers.
    Callers stop in layers (bots, then listener and trade sync, then the exchange)."""
    for child in children:
        child.terminate()
    deadline = time.monotonic() + timeout
    codes: dict[str, int | None] = {}
    for child in children:
        code = child.wait(max(0.1, deadline - time.monotonic()))
        if code is None:
            child.kill()
            code = child.proc.returncode
            print(f"demo: {child.spec.name} ignored SIGTERM for {timeout:.0f}s; killed")
        codes[child.spec.name] = code
        child.close()
    return codes


def available_run_verbs() -> set[str]:
    """The ``alpha run`` verbs this build has (services still being written are absent)."""
    from core.cli import build

    cli = build()
    group = cli._groups.get("run")
    return set(group.choices) if group is not None else set()
