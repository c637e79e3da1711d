"""``alpha demo``: its topology matches production, its children get only demo settings,
and (slow) a full run on this machine ends with a passing ledger verification."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from core.config import is_known_variable
from demo.infra import Infra
from demo.orchestrator import TAIL_MINUTES, Options, _ready, service_table
from demo.services import (
    ACCOUNT_KEYS,
    BOTS,
    DEFAULT_SCENARIO,
    Child,
    ServiceSpec,
    account_env,
    alpha_command,
)
from deploy import compose_file
from devenv.ports import free_port
from paper_exchange.market.generator import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]


def test_demo_bots_are_the_production_bots() -> None:
    compose = compose_file.load(ROOT / "docker-compose.production.yml")
    production = {
        compose_file.environment(s)["BOT_ID"]: (
            None if (db := compose_file.environment(s).get("REDIS_DB")) is None else int(db)
        )
        for s in compose_file.bots(compose).values()
    }
    assert {b.bot_id: b.redis_db for b in BOTS} == production
    registered = compose_file.registrations(compose)
    for bot in BOTS:
        flags = registered[bot.bot_id]
        assert (flags["type"], flags["account"]) == (bot.bot_type, bot.account)
        # Production may trade more symbols than the demo's short market shows.
        assert set(bot.symbols.split(",")) <= set(flags["symbols"].split(",")), bot.bot_id
    # Two bots share the main account, two have their own.
    assert sorted(b.account for b in BOTS) == ["main", "main", "momentum", "orderblock"]


def test_every_child_variable_is_one_the_configuration_reads() -> None:
    for spec in service_table("http://127.0.0.1:1"):
        unknown = [v for v in spec.env if not is_known_variable(v)]
        assert unknown == [], spec.name
    assert account_env(ACCOUNT_KEYS)["BYBIT_API_KEY"] == ACCOUNT_KEYS["main"][0]
    assert "BYBIT_ACCOUNT_MOMENTUM_API_SECRET" in account_env(ACCOUNT_KEYS)


def test_children_never_inherit_the_operators_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_API_KEY", "an-operators-real-key")
    monkeypatch.setenv("BYBIT_ACCOUNT_OTHER_API_KEY", "another-real-key")
    monkeypatch.setenv("PGBOUNCER_HOST", "prod-db.example")
    from core.config import PostgresSettings

    infra = Infra(out=Path("/nonexistent"), stamp="t1", admin=PostgresSettings())
    env = infra.env()
    assert "BYBIT_API_KEY" not in env and "BYBIT_ACCOUNT_OTHER_API_KEY" not in env
    assert "PGBOUNCER_HOST" not in env  # set only once the demo's own PgBouncer runs
    assert env["POSTGRES_DB"].startswith("alpha_demo_") and env["ALPHA_DB_ROLE_PREFIX"] == "dmt1"


#: ``demo: bot <id> fills=N trades=M ...``: the demo's per-bot report line.
_BOT_LINE = re.compile(r"^demo: bot (\S+)\s+fills=(\d+) trades=(\d+) ", re.MULTILINE)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_runs_and_verifies(tmp_path: Path) -> None:
    """The README's first command as it is (default scenario, speed and duration, ~3
    minutes here): every bot enters and exits at least once, the ledger verifies, exit 0."""
    started = time.monotonic()
    result = subprocess.run(
        [*alpha_command(), "demo", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    elapsed = time.monotonic() - started
    tail = result.stdout[-4000:] + result.stderr[-2000:]
    assert "verification PASSED" in result.stdout, tail
    assert result.returncode == 0, tail
    assert "DEMO parameters" in result.stdout  # it says it is not running the spec defaults
    report = {
        bot: (int(fills), int(trades)) for bot, fills, trades in _BOT_LINE.findall(result.stdout)
    }
    assert set(report) == {b.bot_id for b in BOTS}, tail
    for bot_id, (fills, trades) in report.items():
        assert fills >= 2 and trades >= 1, f"{bot_id} did not enter and exit: {report}\n{tail}"
    assert "completed no trade" not in result.stdout
    # Realistic liquidity by default: some orders filled in pieces, each piece verified.
    split = [int(n) for n in re.findall(r"\((\d+) order\(s\) filled in several", result.stdout)]
    assert split and sum(split) > 0, tail
    chart = tmp_path / "pnl.png"
    assert (
        f"demo: chart {chart}" in result.stdout and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    )
    assert (tmp_path / "logs" / "listener.log").exists()
    assert elapsed < 300, f"the demo took {elapsed:.0f}s"


def test_default_run_plays_the_demo_scenario_once() -> None:
    played = sum(s.minutes for s in SCENARIOS[DEFAULT_SCENARIO]) + TAIL_MINUTES
    assert Options().real_minutes() * Options().speed == pytest.approx(played)
    assert Options().real_minutes() < 3  # the README's first command stays short
    assert Options(minutes=1.5).real_minutes() == 1.5


def _child(verb: str, port: int | None) -> Child:
    # Only what _ready reads: the run verb and where /healthz answers.
    child = Child.__new__(Child)
    child.spec = ServiceSpec(verb, (), {}, verb)
    child.http_port = None if port is None else str(port)
    return child


def test_the_clock_waits_for_warmed_up_bots_and_a_connected_listener() -> None:
    from core.service import HealthServer

    state = {"heartbeat": False, "connected": False}
    checks = {
        "heartbeat": lambda: state["heartbeat"],
        "connected": lambda: state["connected"],
        # Needs an execution first, so it fails until the market runs: not waited for.
        "db": lambda: "unreachable (spooling)",
    }
    with HealthServer("127.0.0.1", free_port(), checks) as server:
        bot, listener = _child("bot", server.port), _child("listener", server.port)
        assert not _ready(bot) and not _ready(listener)
        state["connected"] = True
        assert _ready(listener) and not _ready(bot)
    with HealthServer("127.0.0.1", free_port(), {"heartbeat": lambda: True}) as server:
        assert _ready(_child("bot", server.port))
    assert not _ready(_child("bot", free_port()))  # nothing listening yet
    assert _ready(_child("trade-sync", None))  # not waited for
