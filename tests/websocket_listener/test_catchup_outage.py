"""Outages longer than the catch-up margin, with trading going on after reconnection.

Each test runs the real listener against the paper exchange (real pybit, PgBouncer,
PostgreSQL, Redis) with the default ``LISTENER_CATCHUP_MARGIN_SECONDS`` (300 s). The
exchange's simulated clock starts days in the past and is moved forward explicitly, so
an outage of minutes or days of exchange time takes seconds of test time. During every
outage executions keep happening on the exchange; after the stream is back, live fills
arrive (and are committed) *before* the catch-up has succeeded — injected REST errors on
``/v5/execution/list`` hold it back, as a flaky network or rate limit would. The
listener alone, with no trade sync and no ``alpha sync now``, must then hold every
execution of the exchange's REST execution list exactly once.
"""

from __future__ import annotations

import dataclasses
import itertools
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from core.config import AccountCredentials, BybitSettings, ListenerSettings
from core.exchange import rest
from core.exchange.client import make_http
from core.ids import AccountName
from paper_exchange.testing import running_exchange
from tests.harness.services import Database
from tests.websocket_listener.helpers import (
    SHARED,
    SOLO,
    ledger,
    listener_env,
    register_bots,
    spawn_listener,
)
from websocket_listener import metrics
from websocket_listener.service import Listener

DAY_MS = 86_400_000
ACCOUNTS = [("main", "main-key", "main-secret"), ("solo", "solo-key", "solo-secret")]
#: The bot code each account's synthetic fills carry (``SHARED[0]`` on main, ``SOLO``).
LINK_CODE = {"main": "aa1", "solo": "cc3"}
_batch = itertools.count()


@pytest.fixture
def exchange() -> Iterator[Any]:
    # Twelve days ago, frozen: tests move the clock, and it stays behind real time.
    start = int(time.time() * 1000) - 12 * DAY_MS
    with running_exchange(accounts=ACCOUNTS, seed=11, start_ms=start) as ex:
        yield ex


def _settings(database: Database, ex: Any, spool: Path, accounts: list[str]) -> Any:
    creds = {
        AccountName(name): AccountCredentials(AccountName(name), SecretStr(key), SecretStr(secret))
        for name, key, secret in ACCOUNTS
        if name in accounts
    }
    return dataclasses.replace(
        database.settings,
        bybit=BybitSettings(env="paper", rest_url=ex.rest_url, ws_url=ex.ws_url),
        listener=ListenerSettings(spool_dir=spool),  # the default margin: 300 s
        accounts=creds,
    )


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _trade(ex: Any, account: str, count: int) -> None:
    """``count`` executions on ``account`` at the exchange's current time."""
    ex.control.post(
        "/paper/synthetic", account=account, count=count, batch=10, wait=True,
        link_prefix=f"{LINK_CODE[account]}-en-{next(_batch)}x",
    )  # fmt: skip


def _advance(ex: Any, seconds: float) -> None:
    ex.control.advance(int(seconds * 1000))


def _fail_execution_list(ex: Any, count: int) -> None:
    ex.control.post("/paper/faults/rest", count=count, ret_code=10016, path="/v5/execution/list")


def _unblock_sockets(ex: Any) -> None:
    """End a ``close-sockets`` block without clearing the pending REST faults."""
    ex.call(lambda: setattr(ex.exchange.private_hub, "blocked_until", 0.0))


def _rest_execution_ids(ex: Any, settings: Any, account: str) -> list[str]:
    """The exchange's own REST execution list, every window and page (the oracle)."""
    state = ex.control.state()
    start = rest.from_ms(state["now_ms"] - 14 * DAY_MS)
    end = rest.from_ms(state["now_ms"] + 1)
    http = make_http(settings, account, retry_delay=0.2)
    ids = [str(item["execId"]) for item in rest.iter_executions(http, start, end)]
    assert len(ids) == len(set(ids)), "the exchange listed an execution twice"
    return ids


def _dumped_ids(ex: Any, account: str) -> set[str]:
    return {row["execId"] for row in ex.control.dump(account)["executions"]}


def _missing(database: Database, ex: Any, accounts: list[str]) -> dict[str, int]:
    rows = ledger(database)  # asserts no exec_id is in the ledger twice
    out = {}
    for account in accounts:
        produced = _dumped_ids(ex, account)
        mine = {exec_id for exec_id, row in rows.items() if row[1] == account}
        assert mine <= produced, f"{account}: the ledger holds executions the exchange never made"
        out[account] = len(produced - mine)
    return out


def _pending_rest_faults(ex: Any) -> int:
    return int(ex.call(lambda: sum(f.remaining for f in ex.exchange.rest_faults.pending)))


def _assert_listener_recovers_everything(
    database: Database, ex: Any, settings: Any, accounts: list[str], timeout: float = 60
) -> None:
    # Polled through the control API: the REST list would eat the faults meant for the
    # listener. The final comparison is with the REST list, once no fault is pending.
    deadline = time.monotonic() + timeout
    missing = _missing(database, ex, accounts)
    while any(missing.values()) and time.monotonic() < deadline:
        time.sleep(0.5)
        missing = _missing(database, ex, accounts)
    assert not any(missing.values()), f"executions the listener never recovered: {missing}"
    assert _pending_rest_faults(ex) == 0, "the listener recovered without meeting the faults"
    rows = ledger(database)
    for account in accounts:
        listed = _rest_execution_ids(ex, settings, account)
        assert set(listed) == _dumped_ids(ex, account)
        mine = [exec_id for exec_id, row in rows.items() if row[1] == account]
        assert Counter(mine) == Counter(listed), f"{account}: not exactly once"
    # Attribution is not this test's subject, but a recovered fill must reach its bot.
    bots = {"main": SHARED[0].bot_id, "solo": SOLO.bot_id}
    assert {(row[1], row[0]) for row in rows.values()} <= {(a, bots[a]) for a in accounts}


def _sources(database: Database, account: str) -> dict[str, int]:
    with database.connect("readonly") as conn:
        rows = conn.execute(
            "SELECT source, count(*) FROM trading.fills WHERE account = %s GROUP BY source",
            (account,),
        ).fetchall()
    return {source: count for source, count in rows}


class RunningListener:
    """The listener service on a thread, as ``alpha run listener`` runs it."""

    def __init__(self, settings: Any) -> None:
        self.listener = Listener(settings)
        # Reconnect within a second once the exchange accepts sockets again.
        self.listener.stream_options = {"backoff_max": 1.0, "stable_after": 1.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.listener.run, args=(self._stop,), daemon=True)

    def __enter__(self) -> Listener:
        self._thread.start()
        _wait(lambda: len(self.listener.streams) == len(self.listener.settings.accounts), 30,
              "the streams to start")  # fmt: skip
        _wait(lambda: all(s.connected for s in self.listener.streams.values()), 30, "sockets")
        return self.listener

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def _catchup_errors(account: str) -> float:
    return float(metrics.CATCHUP_ERRORS.labels(account)._value.get())


@pytest.mark.slow
def test_socket_outage_longer_than_the_margin_while_live_trading_goes_on(
    database: Database, redis: Any, exchange: Any, tmp_path: Path
) -> None:
    """The issue's case: a 450 s outage of one account's socket, REST errors in the first
    catch-ups, live fills on both accounts all along."""
    ex = exchange
    register_bots(database)
    accounts = ["main", "solo"]
    settings = _settings(database, ex, tmp_path / "spool", accounts)
    with RunningListener(settings) as listener:
        _wait(lambda: all(c.runs for c in listener.catchups.values()), 30, "first catch-ups")
        for _ in range(3):  # ordinary live trading
            _trade(ex, "main", 30)
            _trade(ex, "solo", 10)
            _advance(ex, 20)
        _assert_listener_recovers_everything(database, ex, settings, accounts, timeout=30)

        # The outage: main's socket is closed and refused for a while; solo stays up.
        ex.control.post("/paper/faults/close-sockets", account="main", block_ms=60_000)
        _wait(lambda: not listener.streams["main"].connected, 10, "main's socket to drop")
        for _ in range(3):  # 450 s of exchange time, well past the 300 s margin
            _advance(ex, 150)
            _trade(ex, "main", 40)
            _trade(ex, "solo", 10)
        assert not listener.streams["main"].connected, "main reconnected during the outage"
        assert listener.streams["solo"].connected

        # Back, but the execution list fails a few times: live fills land first.
        errors_before = _catchup_errors("main")
        _fail_execution_list(ex, 4)
        _unblock_sockets(ex)
        _wait(lambda: listener.streams["main"].connected, 30, "main to reconnect")
        for _ in range(6):
            _advance(ex, 10)
            _trade(ex, "main", 20)
            _trade(ex, "solo", 5)
            time.sleep(0.4)
        _assert_listener_recovers_everything(database, ex, settings, accounts)
        assert _catchup_errors("main") >= errors_before + 4, "the REST errors never happened"
        assert _sources(database, "main").get("rest", 0) >= 120, "the outage was not caught up"


@pytest.mark.slow
def test_restart_after_days_down_recovers_a_multi_window_history(
    database: Database, redis: Any, exchange: Any, tmp_path: Path
) -> None:
    """The listener process is down for nine days of exchange time (more than one 7-day
    window, more than one page per window); it starts while trading goes on and its
    first catch-ups fail."""
    ex = exchange
    register_bots(database)
    accounts = ["main", "solo"]
    settings = _settings(database, ex, tmp_path / "spool", accounts)
    with RunningListener(settings) as listener:
        _wait(lambda: all(c.runs for c in listener.catchups.values()), 30, "first catch-ups")
        _trade(ex, "main", 30)
        _trade(ex, "solo", 30)
        _assert_listener_recovers_everything(database, ex, settings, accounts, timeout=30)

    # Down: 9 days of fills, 150 at a time (two pages each), on both accounts.
    for step in (1, 2, 3, 2, 1):
        _advance(ex, step * 86_400)
        _trade(ex, "main", 150)
        _trade(ex, "solo", 40)
    _advance(ex, 600)

    _fail_execution_list(ex, 6)  # both accounts' first catch-ups fail
    stop_trading = threading.Event()

    def keep_trading() -> None:
        while not stop_trading.is_set():
            _advance(ex, 5)
            _trade(ex, "main", 10)
            _trade(ex, "solo", 5)
            stop_trading.wait(0.3)

    trader = threading.Thread(target=keep_trading, daemon=True)
    trader.start()
    try:
        with RunningListener(settings):
            time.sleep(6)  # the failing catch-ups retry with backoff meanwhile
            stop_trading.set()
            trader.join(10)
            _assert_listener_recovers_everything(database, ex, settings, accounts)
    finally:
        stop_trading.set()
        trader.join(10)
    assert _sources(database, "main").get("rest", 0) >= 750


def _start_process(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return spawn_listener(env, cwd, open(cwd / "listener.log", "a"))


def _kill_9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


@pytest.mark.slow
def test_kill_9_during_a_failing_catch_up_keeps_its_start(
    database: Database, redis: Any, exchange: Any, tmp_path: Path
) -> None:
    """``alpha run listener`` is killed while its catch-up after an outage is still
    failing and live fills after the outage are already committed; the next process
    must still catch up from before the outage."""
    ex = exchange
    register_bots(database, SHARED)
    settings = _settings(database, ex, tmp_path / "spool", ["main"])
    name, key, secret = ACCOUNTS[0]
    env = listener_env(database, tmp_path / "spool", ex, key, secret)

    def connected() -> bool:
        return bool(ex.control.state()["subscriptions"].get(name))

    proc = _start_process(env, tmp_path)
    try:
        _wait(connected, 30, "the listener's socket")
        _trade(ex, "main", 40)
        _assert_listener_recovers_everything(database, ex, settings, ["main"], timeout=30)
        time.sleep(3)  # the listener notes how far it is caught up
        _kill_9(proc)

        # The outage: two days of fills while no listener runs.
        for _ in range(4):
            _advance(ex, 12 * 3600)
            _trade(ex, "main", 50)
        _advance(ex, 600)

        # The next listener connects, its catch-up keeps failing, live fills commit.
        _fail_execution_list(ex, 10_000)
        proc = _start_process(env, tmp_path)
        _wait(connected, 30, "the restarted listener's socket")
        for _ in range(5):
            _advance(ex, 10)
            _trade(ex, "main", 10)
        live = {r["execId"] for r in ex.control.dump("main")["executions"][-50:]}
        _wait(lambda: live <= set(ledger(database)), 30, "the live fills to be committed")
        time.sleep(3)
        _kill_9(proc)
        ex.control.clear_faults()

        proc = _start_process(env, tmp_path)
        _wait(connected, 30, "the third listener's socket")
        for _ in range(3):
            _advance(ex, 10)
            _trade(ex, "main", 10)
        _assert_listener_recovers_everything(database, ex, settings, ["main"])
        assert _sources(database, "main").get("rest", 0) >= 200
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
