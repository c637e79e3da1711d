"""``alpha run trade-sync`` as a process: it stops cleanly on SIGTERM even while Redis,
where it marks itself stopped, is away."""

from __future__ import annotations

import signal
import subprocess
import time

from harness.services import alpha_command
from sync_helpers import sync_env

from devenv.ports import free_port
from paper_exchange.testing import running_exchange

ACCOUNTS = [("main", "main-key-07", "main-secret-07")]


def test_a_sigterm_while_redis_is_away_stops_it_with_exit_0(database) -> None:
    """Before: the last write (``sync:status``) raised ``ConnectionError``; the process
    ended with its traceback and exit 1."""
    with running_exchange(accounts=ACCOUNTS, seed=27) as ex:
        env = {**database.env(), **sync_env(ex, ex.accounts), "REDIS_PORT": str(free_port())}
        proc = subprocess.Popen(
            [*alpha_command(), "run", "trade-sync"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while "trade sync running" not in (line := proc.stderr.readline()):  # type: ignore[union-attr]
                assert line and time.monotonic() < deadline, "trade sync never started"
            proc.send_signal(signal.SIGTERM)
            _, rest = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, rest
    assert "Traceback" not in rest, rest
    assert "could not mark trade sync stopped in sync:status: Redis unreachable" in rest
