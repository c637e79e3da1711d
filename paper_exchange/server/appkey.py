"""The aiohttp app key under which handlers find the exchange."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from paper_exchange.server.app import PaperExchange

    EXCHANGE_KEY: web.AppKey[PaperExchange]
EXCHANGE_KEY = web.AppKey("exchange", Any)  # type: ignore[arg-type]  # PaperExchange imports us
