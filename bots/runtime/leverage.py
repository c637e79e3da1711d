"""The leverage a bot's sizing assumes, made true on the exchange before it enters.

A strategy that sizes for 10× (ShortSeller: margin 7 % × leverage 10) on an account set
to 3× would have its orders refused for margin, or, worse, carry three times the margin
it planned. Leverage on Bybit is one setting per account and symbol, so:

* before the first entry in a symbol the host sets it (``/v5/position/set-leverage``;
  110043 "not modified" is success) and reads it back from the position;
* registration already refused two active bots that want different leverage on one
  account and symbol, so setting it cannot undo another bot's choice;
* if it still differs (the exchange refused, or someone changed it by hand), entries in
  that symbol are refused and one alert names the bot, symbol and both values. Exits
  are never blocked. The check is retried on the next entry, so a fix by hand lifts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from core.exchange.rest import classify, positions

log = logging.getLogger(__name__)

Alert = Callable[[dict[str, str]], None]


class LeverageGuard:
    def __init__(self, http: Any, bot_id: str, want: Decimal | None, alert: Alert) -> None:
        self.http = http
        self.bot_id = bot_id
        self.want = want
        self.alert = alert
        self._verified: set[str] = set()
        self._alerted: set[str] = set()

    def refusal(self, symbol: str) -> str | None:
        """``None`` when ``symbol`` trades at the bot's leverage, else why not."""
        if self.want is None or symbol in self._verified:
            return None
        why = self._ensure(symbol)
        if why is None:
            self._verified.add(symbol)
            if symbol in self._alerted:
                self._alerted.discard(symbol)
                self._send(symbol, f"leverage of {symbol} is {self.want} again", resolved=True)
            return None
        if symbol not in self._alerted:
            self._alerted.add(symbol)
            self._send(symbol, f"entries in {symbol} refused: {why}", resolved=False)
        return why

    def _ensure(self, symbol: str) -> str | None:
        want = str(self.want)
        try:
            self.http.set_leverage(
                category="linear", symbol=symbol, buyLeverage=want, sellLeverage=want
            )
            items = positions(self.http, symbol)
        except Exception as exc:
            info = classify(exc)
            if info is None:
                raise
            return f"cannot set leverage {want} ({info})"
        actual = {Decimal(item["leverage"]) for item in items if item.get("leverage")}
        if actual != {self.want}:
            shown = ", ".join(sorted(str(a) for a in actual)) or "unknown"
            return f"account leverage is {shown}, the bot sizes for {want}"
        log.info("leverage of %s is %s", symbol, want)
        return None

    def _send(self, symbol: str, text: str, *, resolved: bool) -> None:
        (log.info if resolved else log.warning)("bot %s: %s", self.bot_id, text)
        try:
            self.alert(
                {
                    "kind": "leverage",
                    "key": f"leverage:{self.bot_id}:{symbol}",
                    "severity": "info" if resolved else "warning",
                    "resolved": "1" if resolved else "0",
                    "bot_id": self.bot_id,
                    "symbol": symbol,
                    "text": f"{self.bot_id}: {text}",
                }
            )
        except Exception as exc:  # the log line above still tells the story
            log.error("leverage alert not published: %s", exc)
