"""Run the real C2 Application against the fake Bot API inside a test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fake_bot_api import FakeBotApi
from pydantic import SecretStr

from core.config import Role
from telegram_c2.app import build_application, serve
from telegram_c2.services import C2, Tuning

TOKEN = "123456:TEST-token-never-logged-abcdef"
ADMIN, VIEWER, STRANGER = 1001, 2002, 3003
ADMIN_2 = 1002
GROUP_CHAT = -100500


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


FAST = Tuning(
    poll_timeout=1.0,
    alert_poll_seconds=0.2,
    monitor_seconds=3600,  # monitors are driven by hand in tests
    expiry_sweep_seconds=3600,  # likewise the expiry sweep
)


def run(coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


@dataclass
class Running:
    api: FakeBotApi
    c2: C2
    clock: FakeClock
    app: Any
    #: The event loop the C2 runs on (set by :func:`c2_in_thread`).
    loop: Any = None

    @property
    def c2_app_bot(self) -> Any:
        return self.app.bot

    async def send(self, user_id: int, text: str, **kw: Any) -> Any:
        """Send ``text`` as ``user_id`` and return the bot's answer (message or photo)."""
        chat_id = kw.get("chat_id", user_id)
        mark = len(self.api.calls)
        self.api.message(user_id, text, **kw)
        return await self.api.reply_to(chat_id, after=mark)


@contextlib.asynccontextmanager
async def running_c2(
    env: Any,
    *,
    admins: Iterable[int] = (ADMIN,),
    viewers: Iterable[int] = (VIEWER,),
    allowed_chats: Iterable[int] = (),
    tuning: Tuning = FAST,
    telegram_overrides: dict[str, Any] | None = None,
    clock: FakeClock | None = None,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[Running]:
    """The C2 polling the fake Bot API, or ended before its first poll (a ``stop`` the
    test set while it waited for Redis): the body then sees ``api.polls == 0``."""
    api = FakeBotApi(TOKEN)
    base = await api.start()
    telegram = env.settings.telegram.model_copy(
        update={
            "bot_token": SecretStr(TOKEN),
            "admin_ids": list(admins),
            "viewer_ids": list(viewers),
            "allowed_chat_ids": list(allowed_chats),
            "api_base_url": base,
            **(telegram_overrides or {}),
        }
    )
    clock = clock or FakeClock()
    c2 = C2(replace(env.settings, telegram=telegram), clock=clock, tuning=tuning)
    app = build_application(c2)
    stop = stop or asyncio.Event()
    task = asyncio.create_task(serve(app, stop, tuning.poll_timeout))
    try:
        while api.polls == 0 and not task.done():
            await asyncio.sleep(0.02)
        if task.done():
            task.result()  # its exception, if it failed
        yield Running(api, c2, clock, app)
    finally:
        stop.set()
        await task
        await c2.close()
        await api.stop()


@contextlib.contextmanager
def c2_in_thread(env: Any, **kw: Any) -> Iterator[Running]:
    """:func:`running_c2` on an event loop of its own thread, for a test that drives a
    synchronous stack (paper exchange, listener, bots) from its main thread. The fake
    Bot API's records and the fake clock are read and moved from the test's thread."""
    started = threading.Event()
    stop = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with running_c2(env, **kw) as running:
            running.loop = asyncio.get_running_loop()
            box["running"] = running
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the test below
            box["error"] = exc
            started.set()

    thread = threading.Thread(target=target, name="c2", daemon=True)
    thread.start()
    started.wait(60)
    if "error" in box:
        raise box["error"]
    try:
        yield box["running"]
    finally:
        stop.set()
        thread.join(60)
        if "error" in box:
            raise box["error"]


def add_bot(
    env: Any, bot_id: str, code: str, redis_db: int | None, name: str | None = None
) -> None:
    with env.connect(Role.OWNER) as conn:
        conn.execute(
            "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name, mode,"
            " redis_db) VALUES (%s, %s, %s, 'test', 'test', 'paper', %s)",
            (bot_id, code, name or bot_id.title(), redis_db),
        )


def add_fill(
    env: Any,
    bot_id: str,
    exec_id: str,
    side: str,
    price: str,
    qty: str,
    fee: str,
    when: datetime,
    symbol: str = "BTCUSDT",
) -> None:
    price_d, qty_d = Decimal(price), Decimal(qty)
    with env.connect(Role.LISTENER) as conn:
        conn.execute(
            "INSERT INTO trading.fills (account, exec_id, bot_id, symbol, side, exec_price,"
            " exec_qty, exec_value, exec_fee, exec_time, source, raw)"
            " VALUES ('main', %s, %s, %s, %s, %s, %s, %s, %s, %s, 'ws', '{}')",
            (exec_id, bot_id, symbol, side, price_d, qty_d, price_d * qty_d, Decimal(fee), when),
        )


def audit_rows(env: Any) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    with env.connect(Role.OWNER) as conn:
        cur = conn.cursor(row_factory=dict_row)
        return cur.execute(
            "SELECT user_id, chat_id, command, args, bot_id, outcome, detail"
            " FROM trading.bot_commands ORDER BY id"
        ).fetchall()


async def wait_audit(env: Any, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    """The audit rows once there are at least ``count`` (the row follows the reply)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        rows = audit_rows(env)
        if len(rows) >= count:
            return rows
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"expected {count} audit rows, have {rows}")
        await asyncio.sleep(0.05)
