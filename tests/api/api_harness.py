"""The API on a free port in a thread of its own (its own event loop), against the test's
real database and Redis; tests talk to it over HTTP with ``requests``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import requests
from aiohttp import web

from api import tokens
from api.app import AccessLogger, build_app
from api.context import ApiContext
from core.config import Role


class RunningApi:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def start(self) -> RunningApi:
        self._thread.start()
        self._runner = self._call(self._setup())
        return self

    async def _setup(self) -> web.AppRunner:
        runner = web.AppRunner(build_app(self.ctx), access_log_class=AccessLogger)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return runner

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def stop(self) -> None:
        if self._runner is not None:
            self._call(self._runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    def request(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, token, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, token, **kwargs)


@contextmanager
def running_api(database: Any, **tuning: Any) -> Iterator[RunningApi]:
    api = RunningApi(ApiContext(database.settings, **tuning)).start()
    try:
        yield api
    finally:
        api.stop()


def make_token(database: Any, name: str, role: str) -> str:
    with database.connect(Role.OWNER, direct=True) as conn:
        return tokens.create(conn, name, tokens.TokenRole(role))


def add_bot(
    database: Any, bot_id: str, code: str, redis_db: int | None = None, status: str = "active"
) -> None:
    with database.connect(Role.OWNER, direct=True) as conn:
        conn.execute(
            "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name,"
            " mode, redis_db, status, symbols, initial_capital, last_heartbeat)"
            " VALUES (%s, %s, %s, 'test', 'test', 'paper', %s, %s, '{BTCUSDT}', 1000, now())",
            (bot_id, code, bot_id.title(), redis_db, status),
        )


def add_fill(
    database: Any,
    bot_id: str,
    exec_id: str,
    side: str,
    price: str,
    qty: str,
    when: datetime,
    *,
    symbol: str = "BTCUSDT",
    account: str = "main",
    fee: str = "0.1",
) -> None:
    price_d, qty_d = Decimal(price), Decimal(qty)
    with database.connect(Role.LISTENER) as conn:
        conn.execute(
            "INSERT INTO trading.fills (account, exec_id, bot_id, symbol, side, exec_price,"
            " exec_qty, exec_value, exec_fee, exec_time, source, raw)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'ws', '{}')",
            (
                account,
                exec_id,
                bot_id,
                symbol,
                side,
                price_d,
                qty_d,
                price_d * qty_d,
                Decimal(fee),
                when,
            ),
        )


def audit_rows(database: Any, channel: str = "api") -> list[dict[str, Any]]:
    with database.connect(Role.OWNER, direct=True) as conn:
        cur = conn.execute(
            "SELECT channel, user_id, username, command, args, bot_id, outcome, detail"
            " FROM trading.bot_commands WHERE channel = %s ORDER BY id",
            (channel,),
        )
        names = [c.name for c in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def check_reply(response: requests.Response, schema_name: str) -> Any:
    """The reply's JSON, after validating it against the schema ``/openapi.json`` names."""
    import jsonschema

    from api.openapi import document

    body = response.json()
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": document()["components"],
        "$ref": f"#/components/schemas/{schema_name}",
    }
    jsonschema.Draft202012Validator(schema).validate(body)
    return body
