"""The listener's /healthz: a quiet account is healthy, an unreachable database is not.

The compose file starts the bots only once the listener is healthy, so a check that
waits for a first trade (or a first commit) would keep a quiet installation down.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from pydantic import SecretStr

from core.config import AccountCredentials, BybitSettings, ListenerSettings
from core.ids import AccountName
from core.service import run_check
from paper_exchange.testing import running_exchange
from tests.harness.partition import Partition
from tests.harness.services import settings_without
from websocket_listener import metrics
from websocket_listener.service import Listener


def _wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _settings(database, ex, tmp_path):
    """The test database's settings with the exchange's account ``main`` on them."""
    main = AccountName("main")
    return dataclasses.replace(
        database.settings,
        bybit=BybitSettings(env="paper", rest_url=ex.rest_url, ws_url=ex.ws_url),
        listener=ListenerSettings(spool_dir=tmp_path / "spool"),
        accounts={main: AccountCredentials(main, SecretStr("hk"), SecretStr("hs"))},
    )


def _verdicts(listener: Listener) -> dict[str, tuple[bool, str]]:
    return {name: run_check(check) for name, check in listener.health_checks().items()}


def test_quiet_account_is_healthy_and_a_dead_database_is_not(database, redis, tmp_path):
    with running_exchange(accounts=[("main", "hk", "hs")], seed=5) as ex:
        listener = Listener(_settings(database, ex, tmp_path))
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


def test_a_listener_started_before_the_database_says_when_it_answers(
    database, redis, tmp_path, caplog
) -> None:
    """Before: the first failed call logged "database write failed, spooling", and with
    nothing traded nothing more was said: no "reachable again", and ``db_up`` stayed 0
    in ``listener:status`` and the metric until the first fill, though the listener had
    taken the ledger over and caught up meanwhile."""
    with running_exchange(accounts=[("main", "hk", "hs")], seed=6) as ex:
        settings = _settings(database, ex, tmp_path)
        away = settings_without(settings, "database")
        listener = Listener(away)
        stop = threading.Event()
        runner = threading.Thread(target=listener.run, args=(stop,), daemon=True)
        forwarders: list[Partition] = []
        with caplog.at_level(logging.INFO, logger="websocket_listener.pipeline"):
            runner.start()
            try:
                _wait(lambda: listener.pipeline.db_down, what="the failed first call")
                assert listener.status()["db_up"] == "0"
                for service in ("pgbouncer", "postgres"):  # the database appears
                    there, here = getattr(settings, service), getattr(away, service)
                    forwarders.append(Partition(there.host, there.port, listen_port=here.port))
                _wait(lambda: listener.status()["db_up"] == "1", 15, "db_up")
                assert metrics.DB_UP._value.get() == 1
                assert not listener.pipeline.db_down
            finally:
                stop.set()
                runner.join(timeout=15)
                for forwarder in forwarders:
                    forwarder.close()
    said = [r.getMessage() for r in caplog.records if r.name == "websocket_listener.pipeline"]
    assert said[0].startswith("database write failed, spooling"), said
    assert said[-1] == "database reachable again", said
