"""``alpha demo``: its topology matches production, its children get only demo settings,
and (slow) a full run on this machine ends with a passing ledger verification."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.config import is_known_variable
from demo.infra import Infra
from demo.orchestrator import service_table
from demo.services import ACCOUNT_KEYS, BOTS, account_env, alpha_command

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
import compose_check  # noqa: E402


def test_demo_bots_are_the_production_bots() -> None:
    compose = compose_check.load(ROOT / "docker-compose.production.yml")
    production = {
        compose_check.environment(s)["BOT_ID"]: int(compose_check.environment(s)["REDIS_DB"])
        for s in compose_check.bots(compose).values()
    }
    assert {b.bot_id: b.redis_db for b in BOTS} == production
    registered = compose_check.registrations(compose)
    for bot in BOTS:
        flags = registered[bot.bot_id]
        assert (flags["type"], flags["account"], flags["symbols"]) == (
            bot.bot_type,
            bot.account,
            bot.symbols,
        )
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


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_runs_and_verifies(tmp_path: Path) -> None:
    result = subprocess.run(
        [*alpha_command(), "demo", "--minutes", "3", "--speed", "600", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )
    tail = result.stdout[-4000:] + result.stderr[-2000:]
    assert "verification PASSED" in result.stdout, tail
    assert result.returncode == 0, tail
    assert (tmp_path / "logs" / "listener.log").exists()
