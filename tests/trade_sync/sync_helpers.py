"""Shared pieces of the trade-sync tests: settings, a running listener, bots, waits."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core.config import AccountCredentials, BybitSettings, ListenerSettings, Settings
from core.ids import AccountName
from paper_exchange.testing import RunningExchange
from trade_sync.context import SyncContext
from websocket_listener.service import Listener

BOTS = (("alpha_one", "aa1"), ("alpha_two", "bb2"))


def sync_settings(
    database: Any,
    ex: RunningExchange,
    tmp_path: Path,
    accounts: dict[str, tuple[str, str]] | None = None,
    *,
    catchup_initial_days: int = 7,
) -> Settings:
    creds = {
        AccountName(n): AccountCredentials(AccountName(n), SecretStr(k), SecretStr(s))
        for n, (k, s) in (accounts or ex.accounts).items()
    }
    return dataclasses.replace(
        database.settings,
        bybit=BybitSettings(env="paper", rest_url=ex.rest_url, ws_url=ex.ws_url),
        listener=ListenerSettings(
            spool_dir=tmp_path / "spool", catchup_initial_days=catchup_initial_days
        ),
        accounts=creds,
    )


def sync_env(ex: RunningExchange, accounts: dict[str, tuple[str, str]]) -> dict[str, str]:
    env = {"BYBIT_ENV": "paper", "BYBIT_REST_URL": ex.rest_url, "BYBIT_WS_URL": ex.ws_url}
    for name, (key, secret) in accounts.items():
        env[f"BYBIT_ACCOUNT_{name.upper()}_API_KEY"] = key
        env[f"BYBIT_ACCOUNT_{name.upper()}_API_SECRET"] = secret
    return env


def context(settings: Settings, **kw: Any) -> SyncContext:
    kw.setdefault("grace", timedelta(0))
    kw.setdefault("drift_confirm_delay", 0.3)
    return SyncContext(settings, **kw)


def register_bots(database: Any, account: str = "main") -> None:
    with database.connect("owner", direct=True) as conn:
        for i, (bot_id, code) in enumerate(BOTS, start=1):
            conn.execute(
                "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name,"
                " mode, account, redis_db, symbols) VALUES (%s, %s, %s, 'test', 'test', 'paper',"
                " %s, %s, %s)",
                (bot_id, code, bot_id, account, i, ["BTCUSDT"]),
            )
        conn.commit()


@contextlib.contextmanager
def running_listener(settings: Settings) -> Iterator[Listener]:
    listener = Listener(settings)
    stop = threading.Event()
    runner = threading.Thread(target=listener.run, args=(stop,), daemon=True)
    runner.start()
    try:
        wait_for(lambda: listener.streams and all(s.connected for s in listener.streams.values()),
                 what="listener sockets")  # fmt: skip
        # The connect-time catch-up reads the execution list; a test that creates fills
        # before it finished would race it (it may record fills the test means to drop).
        wait_for(lambda: all(c.caught_up() for c in listener.catchups.values()),
                 what="the connect-time catch-up")  # fmt: skip
        yield listener
    finally:
        stop.set()
        runner.join(15)


def wait_for(cond: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def ledger_rows(database: Any, account: str = "main") -> dict[str, tuple[str, str]]:
    """execId → (bot_id, source) of every fill and funding row of ``account``."""
    with database.connect("readonly") as conn:
        rows = conn.execute(
            "SELECT exec_id, bot_id, source FROM trading.fills WHERE account = %s "
            "UNION ALL SELECT exec_id, bot_id, source FROM trading.funding WHERE account = %s",
            (account, account),
        ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def count_fills(database: Any) -> int:
    with database.connect("readonly") as conn:
        return int(conn.execute("SELECT count(*) FROM trading.fills").fetchone()[0])


def sync_runs(database: Any, job: str) -> list[dict[str, Any]]:
    with database.connect("readonly") as conn:
        cur = conn.execute(
            "SELECT account, status, checked, found, details FROM trading.sync_runs "
            "WHERE job = %s ORDER BY id",
            (job,),
        )
        cols = [c.name for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
