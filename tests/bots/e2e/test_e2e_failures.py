"""``alpha run bot`` refuses to run, with one clear line and a non-zero exit, when its
registration cannot work: invalid config, unknown type, exchange unreachable, unknown bot."""

from __future__ import annotations

import subprocess

import pytest
from psycopg.types.json import Jsonb

from devenv.ports import free_port
from tests.bots.e2e.harness import env_for, stack
from tests.harness.services import alpha_command


def _insert(database, bot_id, code, bot_type, config, redis_db):
    # Straight into the table: registration would refuse these; a plugin uninstalled or
    # a config edited by hand after registration ends up the same.
    with database.connect("owner", direct=True) as conn:
        conn.execute(
            "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name,"
            " mode, account, redis_db, symbols, config, initial_capital) VALUES (%s, %s, %s,"
            " %s, 'x', 'paper', 'main', %s, %s, %s, 10000)",
            (bot_id, code, bot_id, bot_type, redis_db, ["BTCUSDT"], Jsonb(config)),
        )
        conn.commit()


def _run(s, bot_id, **env):
    return subprocess.run(
        [*alpha_command(), "run", "bot", bot_id],
        env={**env_for(s), **env},
        cwd=s.tmp,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_line(proc) -> str:
    assert proc.returncode != 0, proc
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr  # one line, no traceback
    return lines[0]


@pytest.mark.slow
def test_bad_registrations_fail_with_one_line(database, redis, tmp_path):
    bars = [(60000, 60000, 60000, 60000)] * 30
    with stack(database, tmp_path, bars, 20, listener=False) as s:
        _insert(database, "bad_cfg", "bc1", "momentum", {"bb_period": 1}, 7)
        _insert(database, "bad_type", "bt1", "nosuchbot", {}, 8)
        _insert(database, "bad_risk", "br1", "momentum", {"risk": {"max_open": 1}}, 9)
        s.register("no_exchange", "ne1", "momentum", {"symbols": ["BTCUSDT"]}, redis_db=10)

        line = _one_line(_run(s, "bad_cfg"))
        assert "invalid config for bot type 'momentum'" in line and "bb_period" in line
        line = _one_line(_run(s, "bad_type"))
        assert "unknown bot type 'nosuchbot'" in line and "momentum" in line
        line = _one_line(_run(s, "bad_risk"))
        assert "risk.max_open" in line
        line = _one_line(_run(s, "nobody"))
        assert "bot 'nobody' is not registered" in line

        dead = f"http://127.0.0.1:{free_port()}"
        proc = _run(s, "no_exchange", BYBIT_REST_URL=dead)
        line = _one_line(proc)
        assert "exchange unreachable" in line
        assert "main-secret" not in proc.stderr + proc.stdout
