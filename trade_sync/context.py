"""What every job needs: settings, exchange sessions, the database, Redis, and memory.

One :class:`SyncContext` lives as long as the process. It hands out a fresh pybit
``HTTP`` per job run (pybit shares one ``requests.Session`` per object, whose thread
safety is not promised, and the scheduler runs jobs on several threads), and a fresh
app-role connection through PgBouncer per run (transaction pooling: holding one would
pin a server connection for nothing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import redis
from pybit.unified_trading import HTTP

from core.config import Role, Settings
from core.errors import UserError
from core.exchange import rest
from core.exchange.client import make_http
from core.ids import AccountName
from core.outages import OutageNotice
from core.redis_client import infra_client
from core.retry import Jitter, backoff_delay


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Penalty:
    failures: int = 0
    until: float = 0.0
    reason: str = ""


@dataclass
class AccountBackoff:
    """After an exchange error an account is left alone for a while, growing per failure.

    Rate limits (10006) and outages must not be met with the same request rate; wrong
    credentials will not fix themselves within seconds either. Other accounts are not
    affected: each has its own penalty.
    """

    base: float = 5.0
    cap: float = 600.0
    _state: dict[str, _Penalty] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def blocked(self, account: str) -> _Penalty | None:
        with self._lock:
            p = self._state.get(account)
            return p if p and p.until > time.monotonic() else None

    def failed(self, account: str, reason: str) -> float:
        with self._lock:
            p = self._state.setdefault(account, _Penalty())
            p.failures += 1
            # Equal jitter: a penalty is never (almost) nothing, or it would not rest the
            # account at all.
            delay = backoff_delay(p.failures, base=self.base, cap=self.cap, jitter=Jitter.EQUAL)
            p.until, p.reason = time.monotonic() + delay, reason
            return delay

    def succeeded(self, account: str) -> None:
        with self._lock:
            self._state.pop(account, None)


def _record_notice(where: str) -> OutageNotice:
    return OutageNotice(
        logging.getLogger("trade_sync.runs"), f"cannot record runs in {where}",
        resumed=f"runs are recorded in {where}",
    )  # fmt: skip


@dataclass
class SyncContext:
    settings: Settings
    http_factory: Callable[[Settings, AccountName], HTTP] = make_http
    clock: Callable[[], datetime] = utcnow
    #: Executions younger than this are left to the WebSocket (in flight, not missing).
    grace: timedelta = timedelta(seconds=10)
    #: A missing execId handed over is not handed again before this (the listener may lag).
    rehand_after: timedelta = timedelta(minutes=5)
    #: A drift is re-read after this pause before it is reported (a fill in flight).
    drift_confirm_delay: float = 2.0
    #: The transaction-log reconciliation stops this long before now on both sides: a
    #: fill the listener has not written yet is late, not missing.
    books_grace: timedelta = timedelta(minutes=2)
    backoff: AccountBackoff = field(default_factory=AccountBackoff)
    #: The records kept after each run (trade_sync/runs.py): one warning per outage each.
    runs_outage: OutageNotice = field(default_factory=lambda: _record_notice("trading.sync_runs"))
    status_outage: OutageNotice = field(default_factory=lambda: _record_notice("sync:status"))
    _redis: redis.Redis | None = None
    _handed: dict[str, float] = field(default_factory=dict)
    _handed_lock: threading.Lock = field(default_factory=threading.Lock)
    _steps: dict[str, Decimal] = field(default_factory=dict)
    _steps_at: float = 0.0

    # --- resources ---------------------------------------------------------------------

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            self._redis = infra_client(self.settings)
        return self._redis

    def accounts(self, only: str | None = None) -> list[AccountName]:
        if only is not None:
            self.settings.account(only)  # one-line ConfigError naming the known accounts
            return [AccountName(only)]
        if not self.settings.accounts:
            raise UserError(
                "no exchange account configured (BYBIT_API_KEY/SECRET or "
                "BYBIT_ACCOUNT_<NAME>_API_KEY/SECRET)"
            )
        return sorted(self.settings.accounts)

    def http(self, account: AccountName) -> HTTP:
        return self.http_factory(self.settings, account)

    @contextmanager
    def db(self) -> Iterator[psycopg.Connection[Any]]:
        from core import db

        conn = db.connect(self.settings, Role.SYNC, application_name="alpha-trade-sync")
        try:
            yield conn
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    # --- memory ------------------------------------------------------------------------

    def not_recently_handed(self, exec_ids: list[str]) -> list[str]:
        """The ids not handed over within ``rehand_after``; marks them as handed now."""
        now = time.monotonic()
        horizon = self.rehand_after.total_seconds()
        with self._handed_lock:
            for key in [k for k, t in self._handed.items() if now - t > horizon]:
                del self._handed[key]
            fresh = [i for i in exec_ids if i not in self._handed]
            for i in fresh:
                self._handed[i] = now
            return fresh

    def qty_steps(self, http: HTTP) -> dict[str, Decimal]:
        """``qtyStep`` per symbol, refreshed hourly (instrument rules change rarely)."""
        if not self._steps or time.monotonic() - self._steps_at > 3600:
            steps = {}
            for item in rest.instruments(http):
                step = (item.get("lotSizeFilter") or {}).get("qtyStep")
                if step:
                    steps[item["symbol"]] = Decimal(step)
            self._steps, self._steps_at = steps, time.monotonic()
        return self._steps
