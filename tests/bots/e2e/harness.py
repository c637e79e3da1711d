"""A whole trading stack for one test: paper exchange, listener, bots, real services.

Candles are ours, not the generator's: a CSV market file of 1-minute BTCUSDT bars is
replayed by the paper exchange with a frozen clock, and the test moves the clock one
bar at a time. A bar is played in two steps — 59 s (its open, its two extremes, its
close point: conditional orders trigger here), then the last second that closes it —
and the harness waits until every execution reached the ledger and every bot handled
its fills, so what a bot sees is the same on every run (no race between a stop's fill
and the candle that caused it).

Bots run in-process (``build_host`` + ``BotHost.run`` on a thread, exactly what
``alpha run bot`` runs) so the harness can wait on ``host.decided``; crash tests run
``alpha run bot`` as a subprocess instead.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis as redis_lib
from pydantic import SecretStr

from bots.runtime.host import BotHost
from bots.runtime.service import build_host
from core import redis_keys
from core.config import AccountCredentials, BybitSettings, ListenerSettings, Settings
from core.ids import AccountName, BotId
from database import bots as registry
from devenv.redis_server import ClusterNodes, RedisServer
from paper_exchange.testing import RunningExchange, running_exchange
from websocket_listener.service import Listener

SYMBOL = "BTCUSDT"
MINUTE = 60_000
#: 2024-01-01 00:00 UTC: a funding boundary, so no funding settles in the next 8 hours.
T0_MS = 1_704_067_200_000
ACCOUNTS = [("main", "main-key", "main-secret"), ("solo", "solo-key", "solo-secret")]
TAKER_FEE = Decimal("0.00055")
ZERO = Decimal(0)
EPOCH = datetime.fromtimestamp(0, tz=UTC)
FIELDS = ("qty", "avg_price", "realized_pnl", "fees")

Bar = tuple[Any, Any, Any, Any] | tuple[Any, Any, Any, Any, Any]  # o, h, l, c[, volume]

#: A ShortSeller that decides within a few bars (cooldown 0, EMA 3/5): on the bars of
#: :func:`crossing_history`, it enters on the first live bar that closes at 59,800.
QUICK_SHORTSELLER = {
    "ema_fast": 3,
    "ema_slow": 5,
    "cooldown_minutes": 0,
    "exits": {
        "BTCUSDT": {
            "stop_loss_pct": "1.0",
            "take_profit_pct": "3.0",
            "trailing_distance_pct": "1.0",
            "trailing_activation_pct": "2.0",
        }
    },
}


def crossing_history() -> list[Bar]:
    """Twenty bars rising 10 a bar to 60,190: the quick ShortSeller's EMAs sit just
    below the price, and a bar closing at 59,800 next crosses below both."""
    return [(60000 + 10 * (i - 1), 60000 + 10 * i, 60000 + 10 * (i - 1), 60000 + 10 * i)
            for i in range(20)]  # fmt: skip


def D(x: object) -> Decimal:  # noqa: N802 - reads like the constructor it wraps
    return Decimal(str(x))


def bar_start(index: int) -> datetime:
    return datetime.fromtimestamp((T0_MS + index * MINUTE) / 1000, tz=UTC)


def write_market(path: Path, bars: Sequence[Bar], symbol: str = SYMBOL) -> Path:
    """One CSV row per bar from T0, one minute apart (volume 10 unless given)."""
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["start", "open", "high", "low", "close", "volume", "turnover"])
        for i, b in enumerate(bars):
            o, h, lo, c = (D(x) for x in b[:4])
            v = D(b[4]) if len(b) > 4 else D(10)
            assert lo <= min(o, c) and h >= max(o, c), f"bar {i} is not a candle: {b}"
            out.writerow([T0_MS + i * MINUTE, o, h, lo, c, v, v * c])
    return path


def flat_bars(price: object, n: int, volume: object = 10) -> list[Bar]:
    return [(price, price, price, price, volume)] * n


def wait(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class RunningBot:
    bot_id: str
    host: BotHost
    stop: threading.Event
    thread: threading.Thread
    errors: list[BaseException] = field(default_factory=list)

    def halt(self, timeout: float = 15) -> None:
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"bot {self.bot_id} did not stop"


@dataclass
class Fill:
    exec_id: str
    side: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    link: str
    reason: str | None
    account: str


def _redis_of(server: RedisServer | ClusterNodes) -> dict[str, Any]:
    """The ``RedisSettings`` fields that point a process at ``server``."""
    if isinstance(server, RedisServer):
        return {"host": server.host, "port": server.port, "username": None,
                "password": SecretStr(server.password or "")}  # fmt: skip
    seed, *others = server.nodes
    return {
        "host": seed.host, "port": seed.port, "username": None,
        "password": SecretStr(server.password), "cluster": True, "db": 0, "infra_db": 0,
        # Every node: a process must find the cluster again whichever node dies.
        "cluster_nodes": [(n.host, n.port) for n in others],
    }  # fmt: skip


class Stack:
    """Exchange + listener + bots over the test's database and Redis."""

    def __init__(
        self,
        database: Any,
        ex: RunningExchange,
        tmp: Path,
        history: int,
        symbols: Sequence[str] = (SYMBOL,),
        redis_server: RedisServer | ClusterNodes | None = None,
    ) -> None:
        self.database = database
        #: A Redis (or a Redis Cluster) of the test's own, which it may stop; else the
        #: suite's.
        self.redis_server = redis_server
        #: Every symbol the market replays; play() waits for each bot's decision on each.
        self.symbols = list(symbols)
        self.ex = ex
        self.tmp = tmp
        self.history = history  # bars 0..history-1 are closed when the test starts
        self.bar = history  # index of the forming bar
        accounts = {
            AccountName(n): AccountCredentials(AccountName(n), SecretStr(k), SecretStr(s))
            for n, k, s in ACCOUNTS
        }
        self.settings: Settings = dataclasses.replace(
            database.settings,
            bybit=BybitSettings(env="paper", rest_url=ex.rest_url, ws_url=ex.ws_url),
            listener=ListenerSettings(spool_dir=tmp / "spool", catchup_margin_seconds=60),
            accounts=accounts,
        )
        if redis_server is not None:
            self.settings = dataclasses.replace(
                self.settings, redis=self.settings.redis.model_copy(update=_redis_of(redis_server))
            )
        self.bots: dict[str, RunningBot] = {}
        self.codes: dict[str, str] = {}
        self.redis_dbs: dict[str, int] = {}
        self._listener_stop = threading.Event()
        self.listener: Listener | None = None
        self._listener_thread: threading.Thread | None = None

    # --- set-up -----------------------------------------------------------------------

    def start_listener(self) -> None:
        self.listener = Listener(self.settings)
        self._listener_thread = threading.Thread(
            target=self.listener.run, args=(self._listener_stop,), daemon=True
        )
        self._listener_thread.start()
        listener = self.listener
        wait(lambda: all(s.connected for s in listener.streams.values()), what="listener sockets")

    def register(
        self,
        bot_id: str,
        code: str,
        bot_type: str,
        config: dict[str, Any],
        *,
        redis_db: int | None,
        account: str = "main",
        capital: str = "10000",
    ) -> None:
        spec = registry.build_spec(
            bot_id=bot_id, bot_code=code, bot_name=bot_id, bot_type=bot_type,
            strategy_name=bot_type, account=account, redis_db=redis_db,
            symbols=",".join(config.get("symbols", [SYMBOL])), mode="paper",
            config=json.dumps({"interval": "1", **config}),
            initial_capital=capital,
        )  # fmt: skip
        with self.database.connect("owner", direct=True) as conn:
            registry.register(conn, spec)
        self.codes[bot_id] = code
        self.redis_dbs[bot_id] = redis_keys.bot_db(redis_db)

    def start_bot(self, bot_id: str) -> RunningBot:
        host = build_host(self.settings, bot_id)
        topic = f"kline.{host.interval}.{SYMBOL}"
        before = self._subscribers(topic)
        stop = threading.Event()
        running = RunningBot(bot_id, host, stop, threading.Thread())  # thread set below

        def run() -> None:
            try:
                host.run(stop)
            except BaseException as exc:  # surfaced by the harness, not lost in a thread
                running.errors.append(exc)
                raise

        running.thread = threading.Thread(target=run, name=f"bot-{bot_id}", daemon=True)
        running.thread.start()
        wait(lambda: host.ready.is_set() or running.errors, what=f"{bot_id} started")
        assert not running.errors, running.errors
        wait(lambda: self._subscribers(topic) > before, what=f"{bot_id} subscribed to {topic}")
        self.bots[bot_id] = running
        self.settle()
        return running

    def _subscribers(self, topic: str) -> int:
        hub = self.ex.exchange.public_hub
        return self.ex.call(lambda: sum(topic in c.topics for c in hub.conns))

    def close(self) -> None:
        for bot in self.bots.values():
            bot.stop.set()
        for bot in self.bots.values():
            bot.thread.join(10)
        self._listener_stop.set()
        if self._listener_thread is not None:
            self._listener_thread.join(30)

    # --- driving the market -----------------------------------------------------------

    def play(self, bars: int = 1) -> None:
        """Play the forming bar to its close (see the module doc), ``bars`` times."""
        for _ in range(bars):
            self.ex.control.advance(MINUTE - 1000)
            self.settle()
            self.ex.control.advance(1000)
            closed = bar_start(self.bar)
            self.bar += 1
            for bot in self.bots.values():
                if bot.thread.is_alive():
                    host = bot.host
                    wait(
                        lambda h=host, c=closed: all(
                            h.decided.get(symbol, EPOCH) >= c
                            for symbol in self.symbols
                            if symbol in h.symbols
                        ),
                        what=f"{bot.bot_id} to decide on bar {self.bar - 1}",
                    )
            self.settle()

    def settle(self) -> None:
        """Until every execution is in the ledger and every running bot handled its fills."""

        def quiet() -> bool:
            produced = set()
            for name, _k, _s in ACCOUNTS:
                produced |= {
                    r["execId"]
                    for r in self.ex.control.dump(name)["executions"]
                    if r.get("execType", "Trade") == "Trade"
                }
            if not produced <= set(self.ledger_ids()):
                return False
            for bot in self.bots.values():
                if not bot.thread.is_alive():
                    continue
                r = self.bot_redis(bot.bot_id)
                stream = redis_keys.fills_stream(bot.bot_id)  # type: ignore[arg-type]
                # The listener mirrors a fill to the bot's stream after its commit: a fill
                # in the ledger is not yet the bot's until it is in the stream too.
                mirrored = {f["exec_id"] for _id, f in r.xrange(stream)}
                if not self.bot_ledger_ids(bot.bot_id) <= mirrored:
                    return False
                if not r.exists(stream):
                    continue
                for group in r.xinfo_groups(stream):
                    if group["pending"] or group.get("lag"):
                        return False
                if not bot.host.events.empty():
                    return False
            return True

        wait(quiet, what="ledger and bots to catch up")

    # --- what happened ----------------------------------------------------------------

    def bot_redis(self, bot_id: str) -> redis_lib.Redis:
        if isinstance(self.redis_server, ClusterNodes):
            from redis.cluster import ClusterNode, RedisCluster

            nodes = [ClusterNode(n.host, n.port) for n in self.redis_server.nodes]
            client = RedisCluster(startup_nodes=nodes, password=self.redis_server.password,
                                  decode_responses=True, socket_connect_timeout=2)  # fmt: skip
            return client  # type: ignore[return-value]
        if self.redis_server is not None:
            return self.redis_server.client(self.redis_dbs[bot_id])
        return self.database.redis(self.redis_dbs[bot_id])  # type: ignore[no-any-return]

    def position(self, bot_id: str, symbol: str = SYMBOL) -> dict[str, Decimal]:
        row = self.bot_redis(bot_id).hgetall(redis_keys.position(bot_id, symbol))  # type: ignore[arg-type]
        return {k: D(v) for k, v in row.items() if k in FIELDS}

    def qty(self, bot_id: str, symbol: str = SYMBOL) -> Decimal:
        return self.position(bot_id, symbol).get("qty", ZERO)

    def ledger_ids(self) -> list[str]:
        with self.database.connect("readonly") as conn:
            return [r[0] for r in conn.execute("SELECT exec_id FROM trading.fills")]

    def bot_ledger_ids(self, bot_id: str) -> set[str]:
        with self.database.connect("readonly") as conn:
            rows = conn.execute("SELECT exec_id FROM trading.fills WHERE bot_id = %s", (bot_id,))
            return {r[0] for r in rows}

    def fills(self, bot_id: str) -> list[Fill]:
        with self.database.connect("readonly") as conn:
            rows = conn.execute(
                "SELECT exec_id, side, exec_price, exec_qty, exec_fee, order_link_id, reason,"
                " account FROM trading.fills WHERE bot_id = %s ORDER BY exec_time, seq, exec_id",
                (bot_id,),
            ).fetchall()
        return [Fill(*r) for r in rows]

    def analytics(self, bot_id: str, symbol: str = SYMBOL) -> tuple[Decimal, Decimal] | None:
        with self.database.connect("readonly") as conn:
            row = conn.execute(
                "SELECT qty, realized_pnl FROM analytics.bot_positions"
                " WHERE bot_id = %s AND symbol = %s",
                (bot_id, symbol),
            ).fetchone()
        return (row[0], row[1]) if row else None

    def orders(self, account: str = "main") -> list[dict[str, Any]]:
        return self.ex.control.dump(account)["orders"]  # type: ignore[no-any-return]

    def open_orders(self, bot_id: str, account: str = "main") -> list[dict[str, Any]]:
        code = self.codes[bot_id]
        return [
            o
            for o in self.orders(account)
            if o["orderLinkId"].startswith(f"{code}-")
            and o["orderStatus"] in ("New", "Untriggered", "PartiallyFilled")
        ]

    def set_state(self, bot_id: str, state: str) -> None:
        self.bot_redis(bot_id).set(redis_keys.bot_state(bot_id), state)  # type: ignore[arg-type]

    def command(self, bot_id: str, command: str, **fields: str) -> None:
        stream = redis_keys.commands_stream(bot_id)  # type: ignore[arg-type]
        self.bot_redis(bot_id).xadd(stream, {"command": command, "requested_by": "test", **fields})


def hand_realized(fills: Sequence[Fill]) -> Decimal:
    """Realized P&L net of fees of a position that went from flat back to flat:
    what was received for selling minus what was paid for buying, minus every fee."""
    assert sum((f.qty if f.side == "Buy" else -f.qty for f in fills), ZERO) == 0
    sold = sum((f.price * f.qty for f in fills if f.side == "Sell"), ZERO)
    bought = sum((f.price * f.qty for f in fills if f.side == "Buy"), ZERO)
    return sold - bought - sum((f.fee for f in fills), ZERO)


@contextlib.contextmanager
def stack(
    database: Any,
    tmp_path: Path,
    bars: Sequence[Bar],
    history: int,
    *,
    listener: bool = True,
    others: Mapping[str, Sequence[Bar]] | None = None,
    redis_server: RedisServer | ClusterNodes | None = None,
) -> Iterator[Stack]:
    """``bars[:history]`` are closed history when the test starts; the rest play live.
    ``others`` are more symbols' bars, from the same start (a portfolio). With
    ``redis_server``, the listener and the bots use that Redis (or Redis Cluster) instead
    of the suite's."""
    others = dict(others or {})
    markets = [write_market(tmp_path / f"{SYMBOL}_1.csv", bars)]
    markets += [write_market(tmp_path / f"{sym}_1.csv", b) for sym, b in others.items()]
    with running_exchange(
        accounts=ACCOUNTS, market_files=markets, history_minutes=history, seed=5
    ) as ex:
        # One execution per order: fills at one price, so P&L is hand-computable exactly.
        for symbol in (SYMBOL, *others):
            ex.control.post("/paper/liquidity", symbol=symbol, qty_per_level="1000")
        s = Stack(database, ex, tmp_path, history, [SYMBOL, *others], redis_server)
        assert ex.control.state()["now_ms"] == T0_MS + history * MINUTE
        try:
            if listener:
                s.start_listener()
            yield s
        finally:
            s.close()


def env_for(s: Stack) -> dict[str, str]:
    """Environment for an ``alpha`` subprocess against this stack."""
    env = dict(s.database.env())
    env.update(
        BYBIT_ENV="paper",
        BYBIT_REST_URL=s.ex.rest_url,
        BYBIT_WS_URL=s.ex.ws_url,
        BYBIT_API_KEY="main-key",
        BYBIT_API_SECRET="main-secret",
        BYBIT_ACCOUNT_SOLO_API_KEY="solo-key",
        BYBIT_ACCOUNT_SOLO_API_SECRET="solo-secret",
        PYTHONUNBUFFERED="1",
    )
    if s.redis_server is not None:
        own = _redis_of(s.redis_server)
        env.update(
            REDIS_HOST=own["host"],
            REDIS_PORT=str(own["port"]),
            REDIS_PASSWORD=own["password"].get_secret_value(),
        )
        env.pop("REDIS_USERNAME", None)
        if own.get("cluster"):
            nodes = ",".join(f"{host}:{port}" for host, port in own["cluster_nodes"])
            env.update(REDIS_CLUSTER="true", REDIS_CLUSTER_NODES=nodes, REDIS_INFRA_DB="0")
    env.pop("BOT_ID", None)
    return env


def spawn_bot(s: Stack, bot_id: str, **env: str) -> subprocess.Popen[str]:
    """``alpha run bot BOT_ID`` against this stack; ``env`` overrides its variables."""
    from tests.harness.services import alpha_command

    return subprocess.Popen(
        [*alpha_command(), "run", "bot", bot_id],
        env=env_for(s) | env,
        cwd=s.tmp,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def just_after_a_heartbeat(s: Stack, bot_id: str) -> None:
    """Returns as the bot has just written its heartbeat (every 5 s): its decision
    thread's next Redis calls are then a decision's, not the next beat's."""
    client = s.bot_redis(bot_id)
    beat = client.get(redis_keys.heartbeat(BotId(bot_id)))
    wait(lambda: client.get(redis_keys.heartbeat(BotId(bot_id))) != beat, what="a heartbeat")


def assert_entered_once_with_exits(s: Stack, bot_id: str, qty: Decimal) -> None:
    """One entry of ``qty`` and its stop and take profit, both resting."""
    s.settle()
    assert s.qty(bot_id) == qty  # one entry, not two
    assert sorted(o["orderLinkId"].split("-")[1] for o in s.orders()) == ["en", "sl", "tp"]
    assert sorted(o["orderLinkId"].split("-")[1] for o in s.open_orders(bot_id)) == ["sl", "tp"]


@contextlib.contextmanager
def shortseller_entering_on_the_first_live_bar(
    database: Any, tmp_path: Path, bot_id: str, code: str, *,
    redis_server: RedisServer | ClusterNodes, redis_db: int | None,
) -> Iterator[Stack]:  # fmt: skip
    """The listener and a :data:`QUICK_SHORTSELLER` on ``redis_server``, which this
    starts and stops (the test may stop it meanwhile): the bot enters on the first live
    bar (bar 20 of :func:`crossing_history`), then ten flat bars."""
    history = crossing_history()
    live = [(60190, 60190, 59800, 59800), *flat_bars(59800, 10)]
    redis_server.start()
    try:
        with stack(database, tmp_path, history + live, len(history),
                   redis_server=redis_server) as s:  # fmt: skip
            s.register(bot_id, code, "shortseller", QUICK_SHORTSELLER, redis_db=redis_db)
            yield s
    finally:
        redis_server.stop()
