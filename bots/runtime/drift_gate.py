"""No entries while trade sync reports open drift on the bot's account and symbol.

Open drift (``trading.drift_events`` with no ``cleared_at``) means the ledger and the
exchange disagree about a position: a bot sizing or entering on that symbol would act
on a position nobody can vouch for. Exits are still managed; entries resume when trade
sync clears the drift. The open rows are read at most every :data:`REFRESH_SECONDS`
(a query per candle of every bot would load the database for nothing); when the
database cannot be read, the last answer stands.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg

from core.config import Role, Settings
from core.db import DatabaseUnavailableError, connect

log = logging.getLogger(__name__)

#: How old the answer may be: trade sync looks for drift every minute by default.
REFRESH_SECONDS = 5.0


class DriftGate:
    def __init__(
        self,
        settings: Settings,
        account: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_seconds: float | None = None,
    ) -> None:
        self._settings = settings
        self._account = account
        self._clock = clock
        self._refresh = REFRESH_SECONDS if refresh_seconds is None else refresh_seconds
        self._read_at: float | None = None
        self.open: dict[str, datetime] = {}

    def _read(self) -> dict[str, datetime]:
        with connect(self._settings, Role.BOT) as conn:
            rows: list[Any] = conn.execute(
                "SELECT symbol, detected_at FROM trading.drift_events"
                " WHERE account = %s AND cleared_at IS NULL",
                (self._account,),
            ).fetchall()
        return {str(symbol): at for symbol, at in rows}

    def refusal(self, symbol: str) -> str | None:
        """Why an entry in ``symbol`` must wait, or None."""
        now = self._clock()
        if self._read_at is None or now - self._read_at >= self._refresh:
            try:
                found = self._read()
            except (psycopg.Error, DatabaseUnavailableError) as exc:
                log.warning("open drift not read (the last answer stands): %s", exc)
            else:
                for new in sorted(found.keys() - self.open.keys()):
                    log.warning("open drift on %s %s: entries held", self._account, new)
                for gone in sorted(self.open.keys() - found.keys()):
                    log.info("drift on %s %s cleared: entries allowed", self._account, gone)
                self.open = found
            self._read_at = now
        at = self.open.get(symbol)
        if at is None:
            return None
        return f"open drift on {self._account} {symbol} since {at:%Y-%m-%d %H:%M:%S} UTC"
