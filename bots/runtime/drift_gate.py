"""No entries while trade sync reports open drift on the bot's account and symbol.

Open drift (``trading.drift_events`` with no ``cleared_at``) means the ledger and the
exchange disagree about a position: a bot sizing or entering on that symbol would act
on a position nobody can vouch for. Exits are still managed; entries resume when trade
sync clears the drift, or when an operator acknowledges it as it is now (``alpha drift
ack``, ``/ackdrift``: core/operator/drift_ack.py); a drift that changes after the
acknowledgement holds entries again. The open rows are read at most every
:data:`REFRESH_SECONDS` (a query per candle of every bot would load the database for
nothing); when the database cannot be read, the last answer stands. The bot's
``/healthz`` shows the gate (:meth:`DriftGate.status`).
"""

from __future__ import annotations

import logging
import threading
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
        #: The decision thread and the health server's both ask.
        self._lock = threading.Lock()
        #: Open drift on the account that no acknowledgement covers: symbol -> since.
        self.open: dict[str, datetime] = {}

    def _read(self) -> dict[str, datetime]:
        with connect(self._settings, Role.BOT) as conn:
            rows: list[Any] = conn.execute(
                "SELECT d.symbol, d.detected_at FROM trading.drift_events d"
                " WHERE d.account = %s AND d.cleared_at IS NULL"
                "   AND NOT EXISTS (SELECT 1 FROM trading.drift_acks a"
                "                    WHERE a.drift_id = d.id AND a.exchange_qty = d.exchange_qty"
                "                      AND a.ledger_qty = d.ledger_qty)",
                (self._account,),
            ).fetchall()
        return {str(symbol): at for symbol, at in rows}

    def _refresh_if_due(self) -> None:
        with self._lock:
            now = self._clock()
            if self._read_at is not None and now - self._read_at < self._refresh:
                return
            try:
                found = self._read()
            except (psycopg.Error, DatabaseUnavailableError) as exc:
                log.warning("open drift not read (the last answer stands): %s", exc)
            else:
                for new in sorted(found.keys() - self.open.keys()):
                    log.warning("open drift on %s %s: entries held", self._account, new)
                for gone in sorted(self.open.keys() - found.keys()):
                    log.info("drift on %s %s cleared or acknowledged: entries allowed",
                             self._account, gone)  # fmt: skip
                self.open = found
            self._read_at = now

    def refusal(self, symbol: str) -> str | None:
        """Why an entry in ``symbol`` must wait, or None."""
        self._refresh_if_due()
        at = self.open.get(symbol)
        if at is None:
            return None
        return f"open drift on {self._account} {symbol} since {at:%Y-%m-%d %H:%M:%S} UTC"

    def status(self, symbols: list[str]) -> dict[str, Any]:
        """For ``/healthz``: whether entries in any of ``symbols`` (the bot's) wait on
        drift, and since when. Informational: a held bot is alive and still manages its
        exits, so this never fails the health check."""
        self._refresh_if_due()
        held = {s: at.isoformat() for s, at in sorted(self.open.items()) if s in symbols}
        return {"entries_held": bool(held), "account": self._account, "symbols": held}
