"""The aiohttp app key under which handlers find the exchange (as ``host.Host``)."""

from __future__ import annotations

from aiohttp import web

from paper_exchange.server.host import Host

EXCHANGE_KEY = web.AppKey("exchange", Host)
