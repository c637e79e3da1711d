"""Shared pieces of the listener tests: bots, synthetic executions, the exactly-once check."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from core import redis_keys
from core.link_ids import LinkIdFactory, Reason
from tests.harness.services import alpha_command


@dataclass(frozen=True)
class TestBot:
    bot_id: str
    code: str
    account: str
    redis_db: int | None  # None: registered without --redis-db, keys in the shared DB


SHARED = (TestBot("alpha_one", "aa1", "main", 1), TestBot("alpha_two", "bb2", "main", 2))
SOLO = TestBot("alpha_solo", "cc3", "solo", 3)


def register_bots(database: Any, bots: tuple[TestBot, ...] = (*SHARED, SOLO)) -> None:
    with database.connect("owner", direct=True) as conn:
        for bot in bots:
            conn.execute(
                "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name,"
                " mode, account, redis_db, symbols) VALUES (%s, %s, %s, 'test', 'test', 'paper',"
                " %s, %s, %s)",
                (bot.bot_id, bot.code, bot.bot_id, bot.account, bot.redis_db, ["BTCUSDT"]),
            )
        conn.commit()


_seq = itertools.count(1_000_000)


def execution(
    bot: TestBot | None,
    *,
    side: str,
    qty: str,
    price: str,
    fee: str = "0.01",
    exec_time: int,
    symbol: str = "BTCUSDT",
    exec_type: str = "Trade",
) -> dict[str, Any]:
    """An ``execution`` data item as Bybit sends it (strings for numbers)."""
    link = LinkIdFactory(bot.code).new(Reason.ENTRY) if bot else ""  # type: ignore[arg-type]
    value = Decimal(qty) * Decimal(price)
    return {
        "category": "linear",
        "symbol": symbol,
        "execId": str(uuid.uuid4()),
        "orderId": str(uuid.uuid4()),
        "orderLinkId": link,
        "side": side,
        "execPrice": price,
        "execQty": qty,
        "execValue": str(value),
        "execFee": fee,
        "feeCurrency": "USDT",
        "execType": exec_type,
        "execTime": str(exec_time),
        "isMaker": False,
        "seq": next(_seq),
        "orderPrice": price,
        "orderQty": qty,
        "leavesQty": "0",
    }


def random_executions(
    bots: tuple[TestBot, ...], count: int, *, start_ms: int, seed: int = 7
) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        bot = bots[i % len(bots)]
        qty = str(Decimal(rnd.randint(1, 50)) / 1000)
        price = str(Decimal(rnd.randint(60000_0, 70000_0)) / 10)
        out.append(
            execution(
                bot, side=rnd.choice(("Buy", "Sell")), qty=qty, price=price, exec_time=start_ms + i
            )
        )
    return out


def ws_message(items: list[dict[str, Any]], topic: str = "execution") -> str:
    return json.dumps({"topic": topic, "id": str(uuid.uuid4()), "creationTime": 1, "data": items})


def expected_qty(
    items: list[dict[str, Any]], bot_of: dict[str, str]
) -> dict[tuple[str, str], Decimal]:
    """Signed quantity per (bot, symbol), computed independently of the fold."""
    out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for item in items:
        sign = 1 if item["side"] == "Buy" else -1
        out[(bot_of[item["execId"]], item["symbol"])] += sign * Decimal(item["execQty"])
    return dict(out)


def ledger(database: Any) -> dict[str, tuple[str, str, Decimal]]:
    """exec_id → (bot_id, account, exec_qty); asserts no exec_id appears twice."""
    with database.connect("readonly") as conn:
        rows = conn.execute(
            "SELECT exec_id, bot_id, account, exec_qty FROM trading.fills"
        ).fetchall()
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "an execution is in the ledger twice"
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def redis_positions(services: Any, bots: tuple[TestBot, ...]) -> dict[tuple[str, str], Decimal]:
    out = {}
    for bot in bots:
        client = services.redis(redis_keys.bot_db(bot.redis_db))
        for key in client.scan_iter(f"position:{bot.bot_id}:*"):
            out[(bot.bot_id, key.rsplit(":", 1)[1])] = Decimal(client.hget(key, "qty"))
    return out


def assert_positions_match(
    services: Any, bots: tuple[TestBot, ...], expected: dict[tuple[str, str], Decimal]
) -> None:
    got = redis_positions(services, bots)
    wanted = {k: v for k, v in expected.items() if k[0] in {b.bot_id for b in bots}}
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in wanted.items() if v}


def listener_env(
    database: Any,
    spool: Path,
    exchange: Any = None,
    key: str = "k-main",
    secret: str = "s-main",
) -> dict[str, str]:
    """The environment of an ``alpha run listener`` subprocess: this test's database and
    Redis, its own spool, any free health port and, with ``exchange``, one account on
    the paper exchange."""
    env = {**database.env(), "LISTENER_SPOOL_DIR": str(spool), "ALPHA_HTTP_PORT": "0"}
    if exchange is not None:
        env |= {
            "BYBIT_ENV": "paper",
            "BYBIT_REST_URL": exchange.rest_url,
            "BYBIT_WS_URL": exchange.ws_url,
            "BYBIT_API_KEY": key,
            "BYBIT_API_SECRET": secret,
        }
    return env


def spawn_listener(
    env: dict[str, str], cwd: Path | str, output: IO[str] | int
) -> subprocess.Popen[str]:
    """``alpha run listener`` in a session of its own (``os.killpg`` stops all of it);
    its stdout and stderr go to ``output``: a file, or ``subprocess.PIPE``."""
    return subprocess.Popen(
        [*alpha_command(), "run", "listener"],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
