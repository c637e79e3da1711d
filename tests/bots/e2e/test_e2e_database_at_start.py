"""A bot started before its database (bots/runtime/service.py).

A cluster engine starts services in no order. Before, ``alpha run bot`` exited 69 at
once ("cannot connect to PostgreSQL"), and its restart policy started it again and
again until PgBouncer answered. Now it waits, with one warning, and starts once the
database answers; SIGTERM while it waits ends it with exit 0. A refusal that waiting
would not mend (a wrong password) still ends it at once, with its one line.
"""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from core import redis_keys
from devenv.ports import free_port
from tests.bots.e2e.harness import (
    QUICK_SHORTSELLER,
    crossing_history,
    env_for,
    flat_bars,
    spawn_bot,
    stack,
    wait,
)
from tests.harness.partition import Partition
from tests.harness.services import alpha_command

BOT = "ss_dbwait"


def _finish(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            out, _ = proc.communicate()
    return out


@pytest.mark.slow
def test_a_bot_started_before_the_database_waits_for_it(database, tmp_path):
    history = crossing_history()
    with stack(database, tmp_path, history + flat_bars(59800, 5), len(history)) as s:
        s.register(BOT, "dw", "shortseller", QUICK_SHORTSELLER, redis_db=5)
        pgbouncer = database.settings.pgbouncer
        port = free_port()  # where the bot looks for PgBouncer: nothing there yet
        proc = spawn_bot(s, BOT, PGBOUNCER_HOST="127.0.0.1", PGBOUNCER_PORT=str(port))
        forwarder: Partition | None = None
        try:
            time.sleep(4)
            assert proc.poll() is None, proc.communicate()[0]  # waiting, not dead
            forwarder = Partition(pgbouncer.host, pgbouncer.port, listen_port=port)
            client = s.bot_redis(BOT)
            wait(lambda: client.exists(redis_keys.heartbeat(BOT)), timeout=60,
                 what="the bot to start")  # fmt: skip
            out = _finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
            if forwarder is not None:
                forwarder.close()
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    assert out.count(f"bot {BOT}: cannot connect to PostgreSQL") == 1, out
    assert f"bot {BOT}: PostgreSQL answers again; starting" in out


@pytest.mark.slow
def test_stopped_while_waiting_it_exits_0_and_a_wrong_password_is_not_waited_on(database, tmp_path):
    history = crossing_history()
    with stack(database, tmp_path, history + flat_bars(59800, 2), len(history),
               listener=False) as s:  # fmt: skip
        s.register(BOT, "dw", "shortseller", QUICK_SHORTSELLER, redis_db=5)
        proc = spawn_bot(s, BOT, PGBOUNCER_HOST="127.0.0.1", PGBOUNCER_PORT=str(free_port()))
        time.sleep(3)
        assert proc.poll() is None
        out = _finish(proc)
        assert proc.returncode == 0, out
        assert f"bot {BOT} stopped while waiting for PostgreSQL" in out, out

        started = time.monotonic()
        wrong = subprocess.run(
            [*alpha_command(), "run", "bot", BOT],
            env=env_for(s) | {"ALPHA_DB_BOT_PASSWORD": "not-the-password"},
            capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert time.monotonic() - started < 20
    assert wrong.returncode == 69, wrong.stdout + wrong.stderr
    assert "authentication failed" in wrong.stderr, wrong.stderr
    assert "Traceback" not in wrong.stdout + wrong.stderr
