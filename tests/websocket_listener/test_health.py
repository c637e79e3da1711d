"""The listener's /healthz: a quiet account is healthy, an unreachable database is not.

The compose file starts the bots only once the listener is healthy, so a check that
waits for a first trade (or a first commit) would keep a quiet installation down.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from pydantic import SecretStr

from core.config import AccountCredentials, BybitSettings, ListenerSettings
from core.ids import AccountName
from core.service import run_check
from paper_exchange.testing import running_exchange
from websocket_listener.service import Listener


def _wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _verdicts(listener: Listener) -> dict[str, tuple[bool, str]]:
    return {name: run_check(check) for name, check in listener.health_checks().items()}


def test_quiet_account_is_healthy_and_a_dead_database_is_not(database, redis, tmp_path):
    main = AccountName("main")
    with running_exchange(accounts=[("main", "hk", "hs")], seed=5) as ex:
        settings = dataclasses.replace(
            database.settings,
            bybit=BybitSettings(env="paper", rest_url=ex.rest_url, ws_url=ex.ws_url),
            listener=ListenerSettings(spool_dir=tmp_path / "spool"),
            accounts={main: AccountCredentials(main, SecretStr("hk"), SecretStr("hs"))},
        )
        listener = Listener(settings)
        stop = threading.Event()
        runner = threading.Thread(target=listener.run, args=(stop,), daemon=True)
        runner.start()
        try:
            _wait(lambda: all(s.connected for s in listener.streams.values()), what="socket")
            # Nothing has traded and nothing was committed: still healthy.
            verdicts = _verdicts(listener)
            assert all(ok for ok, _ in verdicts.values()), verdicts

            database.stack.stop_pgbouncer()
            try:
                ok, detail = _verdicts(listener)["db"]
                assert not ok and "unreachable" in detail
                # The exchange side does not depend on the database (a reconnect may be
                # under way on a loaded machine: give it the watchdog's time).
                _wait(lambda: _verdicts(listener)["connected"][0], 15, "the socket")
            finally:
                database.stack.restart_pgbouncer()
            assert _verdicts(listener)["db"][0]
        finally:
            stop.set()
            runner.join(timeout=15)
