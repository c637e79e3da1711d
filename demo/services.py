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
from dataclasses import dataclass, field
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
    #: The bot's own logical DB; ``None``: registered without ``--redis-db``, its keys in
    #: the shared DB (``core.redis_keys.SHARED_DB``).
    redis_db: int | None
    symbols: str
    #: The demo's parameter overrides (``--config``); production registers none.
    config: Mapping[str, object] = field(default_factory=dict)

    @property
    def exclusive(self) -> bool:
        return self.account != "main"


# DEMO-ONLY PARAMETERS. The spec's strategies decide on 5-minute to 4-hour candles and
# need days of them (EMA600 on 5 m, 110 four-hour bars for Momentum); a demo of a few
# minutes cannot show that. So the demo registers each bot with a short-interval config
# (every parameter in docs/strategies.md is a config field) and plays the paper exchange's "demo"
# scenario (paper_exchange/market/generator.py), in which each rule meets its entry and
# its exit within about four simulated hours. Production registers no config and keeps
# every spec default; the demo says so when it starts (DEMO_CONFIG_NOTE).
DEMO_CONFIGS: dict[str, dict[str, object]] = {
    "shortseller": {
        "interval": "1",
        "ema_fast": 20,  # 240 / 600 in the spec
        "ema_slow": 50,
        "cooldown_minutes": 15,  # 60
        "max_hold_hours": "1",  # 24
        # One-minute bars cross their EMAs far more often than 5-minute bars: the spec's 12
        # a day would be spent in the pre-generated history before the demo starts.
        "max_daily_crosses": 1000,
    },
    "lxalgo": {
        "interval": "1",
        "pump_pct": "2",  # 8 % in 12 bars; the demo's breakout makes ~4 % in 15 minutes
        "take_profit_pct": "3",  # 30
        "stop_loss_pct": "1.5",  # 8
        "break_even_pct": "1",  # 8
        "trailing_activation_pct": "2",  # 20
        "trailing_pct": "1",  # 10
        "negative_exit_hours": "0.5",  # 8
        "max_hold_hours": "2",  # 72
    },
    "momentum": {
        "interval": "1",  # 240: Bollinger(20) and 90 band widths on one-minute bars
        "trailing_pct": "1.5",  # 10
    },
    "orderblock": {
        "interval": "1",  # 15
        "pivot_len": 3,  # 5
        # One-minute blocks are narrow, so 1 % risk over a tiny stop distance would size
        # far beyond the account's margin; 0.1 % keeps the demo's orders fillable.
        "risk_pct": "0.1",
    },
}

#: The paper exchange scenario these configs are made for, and the speed that plays its
#: ~4 simulated hours in ~2 real minutes while a fill still reaches its bot within a
#: few simulated minutes.
DEFAULT_SCENARIO = "demo"
DEFAULT_SPEED = 120

DEMO_CONFIG_NOTE = (
    "the bots run DEMO parameters (one-minute candles, short indicator periods, small "
    "thresholds; demo/services.py DEMO_CONFIGS) on the 'demo' market scenario; production "
    "registrations keep the defaults of docs/strategies.md"
)

BOTS = (
    DemoBot("shortseller_001", "shortseller", "ss1", "main", 0, "BTCUSDT,ETHUSDT,SOLUSDT",
            DEMO_CONFIGS["shortseller"]),
    DemoBot("lxalgo_001", "lxalgo", "lx1", "main", 1, "BTCUSDT", DEMO_CONFIGS["lxalgo"]),
    DemoBot("momentum_001", "momentum", "mo1", "momentum", 2, "BTCUSDT,ETHUSDT,SOLUSDT",
            DEMO_CONFIGS["momentum"]),
    DemoBot("orderblock_001", "orderblock", "ob1", "orderblock", 3, "BTCUSDT",
            DEMO_CONFIGS["orderblock"]),
)  # fmt: skip

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
        #: Where its ``/healthz`` answers (None: it serves none), to know when it is ready.
        self.http_port = env.get("ALPHA_HTTP_PORT")
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
