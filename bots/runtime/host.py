"""The bot host: runs one strategy plugin against the exchange (``alpha run bot BOT_ID``).

One thread decides; the others only feed it. pybit's public-stream thread and a Redis
reader thread put events (closed candles, the bot's own fills, operator commands) on
one queue, and the main thread handles them in order — so a strategy, which is plain
single-threaded code, never sees two events at once.

What the host guarantees around the strategy:

* it sees closed candles only, each once, in order (gaps after a reconnect are filled
  from REST before the next live candle);
* its position is the ledger's (``position:{bot}:{symbol}``, written by the listener),
  never the exchange's netted one;
* each own fill reaches it once (``fills:{bot}`` consumer group; a set of seen exec ids
  makes a redelivery after a crash harmless), and an exit fill cancels its sibling;
* entries pass the risk gate and the bot's state (paused: exits only; stopped: none);
* after a crash it adopts the ledger's positions and its own resting orders rather than
  entering again, so a restart neither duplicates entries nor forgets stops;
* SIGTERM stops it without touching positions: only ``flatten`` closes them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import redis
from redis.typing import KeyT, StreamIdT

from bots.runtime.drift_gate import DriftGate
from bots.runtime.leverage import LeverageGuard
from bots.runtime.loss_limits import LossLimits
from bots.runtime.market import CandleSequencer, closed_candle, closed_history, server_now
from bots.runtime.notify import Notifier, closing_of
from bots.runtime.registration import Registration
from bots.runtime.universe import Universe
from core import plugins, redis_keys
from core.candles import Candle
from core.config import Role, Settings
from core.errors import UserError
from core.instruments import Instrument
from core.notify import settings_of
from core.orders import OrderBook, OrderManager, Outcome, new_intent_id
from core.redis_client import stream_fields, sync_reply
from core.risk import BotState, RiskGate, split_config
from core.strategy import (
    ENTRY_INTENTS,
    ExitMarket,
    FillEvent,
    Intent,
    PositionView,
    Reason,
    Side,
    Strategy,
    StrategyContext,
)

log = logging.getLogger(__name__)

GROUP = "bot"
HEARTBEAT_TTL = 30
HEARTBEAT_EVERY = 5.0
DB_HEARTBEAT_EVERY = 30.0
#: A redelivery comes within minutes; a week of exec ids is plenty to recognise it.
SEEN_FILLS_SECONDS = 7 * 86400
_ZERO = Decimal(0)


def _decimal(value: str | None) -> Decimal:
    return Decimal(value) if value else _ZERO


class BotHost:
    """Everything one running bot needs; :meth:`run` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        registration: Registration,
        *,
        http: Any,
        bot_redis: redis.Redis,
        infra_redis: redis.Redis,
        instruments: Mapping[str, Instrument],
        public_stream_factory: Any = None,
    ) -> None:
        self.settings = settings
        self.reg = registration
        self.http = http
        self.redis = bot_redis
        self.infra = infra_redis
        strategy_config, limits = split_config(registration.config)
        self.strategy: Strategy[Any] = plugins.load(registration.bot_type)(
            plugins.validate_config(registration.bot_type, strategy_config)
        )
        self.gate = RiskGate(limits)

        def alert(fields: dict[str, str]) -> None:
            infra_redis.xadd(
                redis_keys.ALERTS, stream_fields(fields),
                maxlen=redis_keys.ALERTS_MAXLEN, approximate=True,
            )  # fmt: skip

        #: The bot's events for its operators (fills, rejections, halts …).
        self.notify = Notifier(
            registration.bot_id,
            settings_of(registration.config),
            alert,
            closing=lambda fields: closing_of(settings, registration.bot_id, fields),
        )
        self.drift = DriftGate(settings, str(registration.account))
        self.loss_limits = LossLimits(bot_redis, registration.bot_id, limits, self.notify)
        self.orders = OrderManager(
            http,
            registration.bot_id,
            registration.bot_code,
            OrderBook(bot_redis, registration.bot_id),
            instruments,
            exclusive=bool(getattr(self.strategy.config, "exclusive", False)),
        )
        self.leverage = LeverageGuard(
            http, registration.bot_id, self.strategy.config.leverage, alert
        )
        self.universe = Universe(
            self.strategy, http, bot_redis, registration.bot_id, self.notify.universe
        )
        #: Every symbol the bot follows: its universe, its registered symbols and wherever
        #: it still holds something. It only enters in the universe.
        self.symbols = list(self.strategy.symbols)
        self.interval = self.strategy.interval
        self.sequencer = CandleSequencer(self.interval)
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.prices: dict[str, Decimal] = {}
        #: What the strategy last asked to remember per symbol (as stored in Redis).
        self._memos: dict[str, dict[str, str]] = {}
        #: The bot's allocation; without one, set from the wallet once in start().
        self.capital = registration.initial_capital or _ZERO
        self.now = datetime.now(UTC)
        self._stream_factory = public_stream_factory
        self._stream: Any = None
        self._reader: threading.Thread | None = None
        self._last_beat = 0.0
        self._last_db_beat = 0.0
        self._stopping = threading.Event()
        self.decisions = 0
        #: Start of the last candle per symbol whose decision (and orders) is complete.
        self.decided: dict[str, datetime] = {}
        #: Set once start-up (recovery, warm-up, subscriptions) is done.
        self.ready = threading.Event()

    # --- state the strategy reads ------------------------------------------------------

    def positions(self) -> dict[str, PositionView]:
        pipe = self.redis.pipeline(transaction=False)
        for symbol in self.symbols:
            pipe.hgetall(redis_keys.position(self.reg.bot_id, symbol))
        out = {}
        for symbol, row in zip(self.symbols, pipe.execute(), strict=True):
            out[symbol] = PositionView(
                symbol, _decimal(row.get("qty")), _decimal(row.get("avg_price"))
            )
        return out

    def realized(self) -> Decimal:
        pipe = self.redis.pipeline(transaction=False)
        for symbol in self.symbols:
            pipe.hget(redis_keys.position(self.reg.bot_id, symbol), "realized_pnl")
        return sum((_decimal(v) for v in pipe.execute()), _ZERO)

    def equity(self, positions: Mapping[str, PositionView]) -> Decimal:
        """Allocation + this bot's realized P&L (ledger) + its unrealized P&L at the last
        price. Never the account's wallet: on a shared account that holds every bot's
        P&L, and the bot's own P&L is in it already."""
        return self.capital + self.realized() + self.unrealized(positions)

    def unrealized(self, positions: Mapping[str, PositionView]) -> Decimal:
        return sum(
            ((self.prices.get(s, p.avg_price) - p.avg_price) * p.qty for s, p in positions.items()),
            _ZERO,
        )

    def _capital_from_wallet(self) -> Decimal:
        """An account of its own and no allocation: the account's equity, read once at
        start, less what the bot's own P&L already put into it; the ledger follows it."""
        from core.exchange.rest import wallet

        if self.reg.account_peers:
            raise UserError(
                f"bot {self.reg.bot_id} shares account {self.reg.account} with "
                f"{', '.join(self.reg.account_peers)} but has no allocation: register it "
                "with --initial-capital"
            )
        total = next((Decimal(a.get("totalEquity") or "0") for a in wallet(self.http)), _ZERO)
        positions = self.positions()
        capital = total - self.realized() - self.unrealized(positions)
        log.info("bot %s: capital %s (account equity %s at start)", self.reg.bot_id, capital,
                 total)  # fmt: skip
        return capital

    def context(self) -> StrategyContext:
        positions = self.positions()
        return StrategyContext(
            now=self.now,
            equity=self.equity(positions),
            instruments=self.orders.instruments,
            positions=positions,
            id_source=new_intent_id,
            prices=dict(self.prices),
        )

    def state(self) -> BotState:
        value = sync_reply(self.redis.get(redis_keys.bot_state(self.reg.bot_id)))
        try:
            return BotState(value) if value else BotState.RUNNING
        except ValueError:
            log.warning("unknown bot state %r: treating as paused", value)
            return BotState.PAUSED

    # --- start-up ----------------------------------------------------------------------

    def start(self) -> None:
        """Recover, warm up and subscribe. Raises UserError when the exchange is unreachable."""
        self._init_state()
        self._ensure_groups()
        try:
            self.now = server_now(self.http)
            if self.universe.dynamic:
                self.universe.refresh(self.now)
                # The registered symbols stay followed even outside the universe: their
                # candles are the bot's clock (an empty universe must still be refreshed).
                followed = [*self.universe.current, *self._held(), *self.strategy.symbols]
                self.symbols = list(dict.fromkeys(followed))
            resting = self.orders.reconcile(self.symbols)
            history = self._warm_up()
            if self.reg.initial_capital is None:
                self.capital = self._capital_from_wallet()
        except Exception as exc:
            from core.exchange.rest import classify

            info = classify(exc)
            if info is None:
                raise
            raise UserError(f"exchange unreachable or refusing ({info})") from None
        self._recall()
        self._adopt(resting)
        self._save_memos()
        log.info(
            "bot %s warmed up on %d candles; %d resting orders adopted",
            self.reg.bot_id,
            len(history),
            len(resting),
        )
        self._drain_pending()
        self._subscribe()
        self._reader = threading.Thread(target=self._read_streams, name="bot-streams", daemon=True)
        self._reader.start()
        self.ready.set()

    def _subscribe(self) -> None:
        """(Re)opens the public stream on every followed symbol's candles. A symbol added
        later needs a new subscription list: the stream is replaced, and candles closed
        during the switch are fetched by the sequencer's gap fill."""
        if self._stream_factory is None:
            return
        if self._stream is not None:
            self._stream.stop()
        topics = [f"kline.{self.interval}.{s}" for s in self.symbols]
        self._stream = self._stream_factory(self.settings, topics, self._on_ws)
        self._stream.start()

    def _held(self) -> list[str]:
        """Symbols where the ledger's position for this bot is open (from Redis)."""
        held = []
        for key in self.redis.scan_iter(redis_keys.position_pattern(self.reg.bot_id)):
            name = key.decode() if isinstance(key, bytes) else str(key)
            qty: Any = self.redis.hget(name, "qty")  # a sync client: a str or bytes
            if qty is not None and _decimal(qty.decode() if isinstance(qty, bytes) else qty):
                held.append(name.rsplit(":", 1)[1])
        return sorted(held)

    def _refresh_universe(self) -> None:
        joined = [s for s in self.universe.refresh(self.now) if s not in self.symbols]
        if not joined:
            return
        self._warm_up(joined)
        self.symbols += joined
        self._subscribe()

    def _init_state(self) -> None:
        key = redis_keys.bot_state(self.reg.bot_id)
        initial = {"paused": "paused", "stopped": "stopped"}.get(self.reg.status, "running")
        self.redis.set(key, initial, nx=True)  # an operator's later choice wins

    def _ensure_groups(self) -> None:
        for stream in (
            redis_keys.fills_stream(self.reg.bot_id),
            redis_keys.commands_stream(self.reg.bot_id),
        ):
            try:
                # "$": fills before the group existed are already in the ledger positions.
                self.redis.xgroup_create(stream, GROUP, id="$", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def _warm_up(self, symbols: list[str] | None = None) -> list[Candle]:
        """Feeds ``symbols`` (default: every followed one) their closed history."""
        bars = max(self.strategy.warmup_bars, 1)
        candles: list[Candle] = []
        for symbol in self.symbols if symbols is None else symbols:
            history = closed_history(self.http, symbol, self.interval, bars, self.now)
            candles.extend(history)
            if history:
                self.prices[symbol] = history[-1].close
        candles.sort(key=lambda c: (c.start, c.symbol))
        self.strategy.warm_up(candles)
        for candle in candles:
            self.sequencer.accept(candle)
        return candles

    def _adopt(self, resting: list[Any]) -> None:
        """Hand the strategy, per symbol, the ledger's position and the bot's own resting
        orders. Symbols with resting orders but no position count too: a stop or take
        profit left on a flat position (its sibling filled while the bot was down) would
        open one, so the strategy must get the chance to cancel it."""
        ctx = self.context()
        for symbol, view in ctx.positions.items():
            own = [t for t in resting if t.symbol == symbol]
            if view.qty or own:
                if view.qty:
                    view = replace(view, opened_at=self._opened_at(symbol, view.qty))
                intents = self.strategy.adopt(view, own, ctx)
                log.info(
                    "adopting %s: position %s @ %s, %d resting orders -> %s",
                    symbol,
                    view.qty,
                    view.avg_price,
                    len(own),
                    ", ".join(type(i).__name__ for i in intents) or "nothing to do",
                )
                self._execute(intents)

    def _recall(self) -> None:
        for symbol in self.symbols:
            memo = self.redis.hgetall(redis_keys.memo(self.reg.bot_id, symbol))
            if memo:
                self._memos[symbol] = dict(memo)  # type: ignore[arg-type]
                self.strategy.recall(symbol, dict(memo))  # type: ignore[arg-type]

    def _save_memos(self) -> None:
        """Write what the strategy remembers, per symbol, only where it changed."""
        for symbol in self.symbols:
            memo = self.strategy.remember(symbol)
            memo = dict(memo) if memo else None
            if memo == self._memos.get(symbol):
                continue
            key = redis_keys.memo(self.reg.bot_id, symbol)
            if memo is None:
                self.redis.delete(key)
                self._memos.pop(symbol, None)
            else:
                pipe = self.redis.pipeline()
                pipe.delete(key)
                pipe.hset(key, mapping=memo)
                pipe.execute()
                self._memos[symbol] = memo

    def _opened_at(self, symbol: str, qty: Decimal) -> datetime | None:
        """When the ledger position of ``qty`` last opened from flat (or flipped): walk
        this bot's fills newest first, undoing each, until the quantity before a fill
        was zero or of the other sign. ``None`` if the ledger cannot be read or the
        position is built from more than 10,000 fills (the strategy then counts it as
        opened now)."""
        from core.db import connect

        remaining = qty
        try:
            with connect(self.settings, Role.BOT) as conn:
                cur = conn.execute(
                    "SELECT side, exec_qty, exec_time FROM trading.fills"
                    " WHERE bot_id = %s AND symbol = %s"
                    " ORDER BY exec_time DESC, seq DESC, exec_id DESC LIMIT 10000",
                    (self.reg.bot_id, symbol),
                )
                for side, exec_qty, exec_time in cur:
                    before = remaining - (exec_qty if side == "Buy" else -exec_qty)
                    if before == 0 or (before > 0) != (qty > 0):
                        return exec_time
                    remaining = before
        except Exception as exc:
            log.warning("open time of %s not read from the ledger: %s", symbol, exc)
        return None

    def _drain_pending(self) -> None:
        """Fills delivered before a crash but not acknowledged: handle them now (idempotent)."""
        stream = redis_keys.fills_stream(self.reg.bot_id)
        entries = sync_reply(
            self.redis.xreadgroup(GROUP, self.reg.bot_id, {stream: "0"}, count=1000)
        )
        for _, items in entries or []:
            for entry_id, fields in items:
                self._on_fill(entry_id, fields)

    # --- feeding threads ----------------------------------------------------------------

    def _on_ws(self, message: dict[str, Any]) -> None:
        for candle in closed_candle(message):
            self.events.put(("candle", candle))

    def _read_streams(self) -> None:
        streams: dict[KeyT, StreamIdT] = {
            redis_keys.fills_stream(self.reg.bot_id): ">",
            redis_keys.commands_stream(self.reg.bot_id): ">",
        }
        while not self._stopping.is_set():
            try:
                batches = sync_reply(
                    self.redis.xreadgroup(GROUP, self.reg.bot_id, streams, count=100, block=500)
                )
            except redis.RedisError as exc:
                log.warning("redis stream read failed, retrying: %s", exc)
                time.sleep(1)
                continue
            for stream, items in batches or []:
                kind = "fill" if stream.startswith("fills:") else "command"
                for entry_id, fields in items:
                    self.events.put((kind, (entry_id, fields)))

    # --- the decision thread -------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self._stopping = stop
        self.start()
        try:
            while not stop.is_set():
                self._beat()
                try:
                    kind, payload = self.events.get(timeout=0.5)
                except queue.Empty:
                    continue
                batch = [(kind, payload)]
                while True:
                    try:
                        batch.append(self.events.get_nowait())
                    except queue.Empty:
                        break
                self._handle(batch)
        finally:
            self.close()

    def _handle(self, batch: Iterable[tuple[str, Any]]) -> None:
        candles: list[Candle] = []
        for kind, payload in batch:
            if kind == "candle":
                candles.append(payload)
            elif kind == "fill":
                self._on_fill(*payload)
            elif kind == "command":
                self._on_command(*payload)
        for candle in sorted(candles, key=lambda c: (c.start, c.symbol)):
            self._on_candle(candle)
        if candles:
            self._execute(self.strategy.on_timer(self.context()))
            if self.universe.due(self.now):
                self._refresh_universe()
        self._save_memos()
        # After the orders went out (and the memos are kept): what tests wait on.
        for candle in candles:
            self.decided[candle.symbol] = candle.start

    def _on_candle(self, candle: Candle) -> None:
        if self.sequencer.seen(candle):
            return
        gap_from = self.sequencer.gap_after(candle)
        if gap_from is not None:
            missing = closed_history(
                self.http, candle.symbol, self.interval, 10_000, candle.start, since=gap_from
            )
            for old in missing:
                self._decide(old)
        self._decide(candle)

    def _decide(self, candle: Candle) -> None:
        self.sequencer.accept(candle)
        self.prices[candle.symbol] = candle.close
        self.now = candle.end
        self.decisions += 1
        ctx = self.context()
        self.loss_limits.observe(ctx.now, ctx.equity)
        self._execute(self.strategy.on_candle(candle, ctx))

    def _on_fill(self, entry_id: str, fields: Mapping[str, str]) -> None:
        stream = redis_keys.fills_stream(self.reg.bot_id)
        exec_id = fields.get("exec_id", "")
        seen = redis_keys.seen_fills(self.reg.bot_id)
        first_time = self.redis.zadd(seen, {exec_id: time.time()}, nx=True) == 1
        if first_time and self.decisions % 1000 == 0:
            self.redis.zremrangebyscore(seen, 0, time.time() - SEEN_FILLS_SECONDS)
        if first_time and fields.get("exec_type", "Trade") != "Funding":
            link = fields.get("order_link_id", "")
            qty = Decimal(fields["exec_qty"])
            sibling_cancels = self.orders.on_fill(link, qty)
            tracked = self.orders.book.by_link.get(link)
            try:
                reason = Reason.parse(fields.get("reason") or "manual")
            except ValueError:
                reason = Reason.MANUAL
            event = FillEvent(
                symbol=fields["symbol"],
                side=fields["side"],  # type: ignore[arg-type]
                price=Decimal(fields["exec_price"]),
                qty=qty,
                fee=_decimal(fields.get("exec_fee")),
                reason=reason,
                order_link_id=link,
                exec_time=datetime.fromisoformat(fields["exec_time"]),
                intent_id=tracked.intent_id if tracked else None,
            )
            self.now = max(self.now, event.exec_time)
            ctx = self.context()
            self.loss_limits.observe(ctx.now, ctx.equity)
            self._execute([*sibling_cancels, *self.strategy.on_fill(event, ctx)])
            self.notify.filled(event, fields, tracked)  # after the reaction: it reads the DB
        self.redis.xack(stream, GROUP, entry_id)

    def _on_command(self, entry_id: str, fields: Mapping[str, str]) -> None:
        command = fields.get("command", "")
        log.info("command %s from %s", command, fields.get("requested_by", "?"))
        if self.state() is BotState.STOPPED:
            log.warning("bot is stopped: command %s refused (resume it first)", command)
        elif command == "flatten":
            self.flatten()
        elif command == "exit":
            self.exit_symbol(fields.get("symbol", ""))
        elif command == "cancel-all":
            self.orders.cancel_own(self.symbols)
        elif command == "reset-risk":
            self.loss_limits.reset(self.context().equity, fields.get("requested_by", "?"))
        else:
            log.warning("unknown command %r ignored", command)
        self.redis.xack(redis_keys.commands_stream(self.reg.bot_id), GROUP, entry_id)

    def flatten(self) -> None:
        """Close this bot's own positions with tagged orders and cancel its resting orders."""
        ctx = self.context()
        intents = list(self.strategy.flatten(ctx, Reason.KILL))
        cancelled = self.orders.cancel_own(self.symbols)
        covered = {i.symbol for i in intents if isinstance(i, ExitMarket)}
        for symbol, view in ctx.positions.items():
            if view.qty and symbol not in covered:
                side: Side = "Sell" if view.qty > 0 else "Buy"
                intents.append(
                    ExitMarket(new_intent_id(), symbol, side, abs(view.qty), Reason.KILL)
                )
        exits = [i for i in intents if isinstance(i, ExitMarket)]
        self._execute(exits)
        self.notify.flatten_done(exits, cancelled)

    def exit_symbol(self, symbol: str) -> None:
        """An operator's forced exit (``/forceexit BOT SYMBOL``): close this bot's own
        position in ``symbol`` at market — never more than the ledger holds, as
        :meth:`flatten` — and cancel its resting orders there. Other symbols are untouched."""
        if symbol not in self.symbols:
            log.warning("exit %r ignored: not one of this bot's symbols", symbol)
            return
        ctx = self.context()
        intents = list(self.strategy.flatten_symbol(ctx, symbol, Reason.KILL))
        cancelled = self.orders.cancel_own([symbol])
        exits = [i for i in intents if isinstance(i, ExitMarket) and i.symbol == symbol]
        view = ctx.positions.get(symbol)
        if view is not None and view.qty and not exits:
            side: Side = "Sell" if view.qty > 0 else "Buy"
            exits.append(ExitMarket(new_intent_id(), symbol, side, abs(view.qty), Reason.KILL))
        log.info("exit %s: %d market exit(s), %d resting order(s) cancelled", symbol,
                 len(exits), cancelled)  # fmt: skip
        self._execute(exits)

    def _execute(self, intents: Iterable[Intent], *, follow_up: bool = True) -> None:
        """Gate and send intents; tell the strategy about every one that did not become an
        order, and send what it asks for instead (one round: no refusal loops)."""
        intents = list(intents)
        if not intents:
            return
        failed: list[tuple[Intent, str]] = []
        state = self.state()
        killed = bool(self.infra.exists(redis_keys.KILL_FLAG))
        positions = self.positions()
        # What each market exit may still close, per the ledger (see _bound_exit).
        open_qty = {symbol: view.qty for symbol, view in positions.items()}
        for intent in intents:
            if isinstance(intent, ExitMarket):
                bounded = self._bound_exit(intent, open_qty)
                if bounded is None:
                    continue
                intent = bounded
            verdict = self.gate.check(
                intent,
                state=state,
                killed=killed,
                halted=self.loss_limits.halted,
                positions=positions,
                prices=self.prices,
                reference_price=self.prices.get(intent.symbol),
                account_notional=self._account_notional,
            )
            if isinstance(intent, ENTRY_INTENTS) and intent.symbol not in self.universe:
                log.info("refused %s %s: not in the bot's universe", type(intent).__name__,
                         intent.symbol)  # fmt: skip
                failed.append((intent, "universe"))
                continue
            if verdict and isinstance(intent, ENTRY_INTENTS):
                drift = self.drift.refusal(intent.symbol)
                if drift is not None:
                    log.info("refused %s %s: %s", type(intent).__name__, intent.symbol, drift)
                    failed.append((intent, "drift"))
                    continue
                refused = self.leverage.refusal(intent.symbol)
                if refused is not None:
                    failed.append((intent, f"leverage: {refused}"))
                    continue
            if not verdict:
                log.info(
                    "refused %s %s: %s (%s)",
                    type(intent).__name__,
                    intent.symbol,
                    verdict.rule,
                    verdict.detail,
                )
                failed.append((intent, verdict.rule))
                continue
            result = self.orders.execute(intent, price_hint=self.prices.get(intent.symbol))
            if result.outcome is Outcome.REJECTED:
                self.notify.order_rejected(result)
            if result.outcome in (Outcome.REJECTED, Outcome.SKIPPED):
                if isinstance(intent, ENTRY_INTENTS):
                    log.warning("entry %s: %s", result.outcome, result.detail)
                failed.append((intent, f"{result.outcome}: {result.detail}"))
        if failed and follow_up:
            ctx = self.context()
            more: list[Intent] = []
            for intent, why in failed:
                more += self.strategy.on_rejected(intent, why, ctx)
            self._execute(more, follow_up=False)

    def _account_notional(self) -> Decimal:
        """Every bot's open notional on this bot's account, from the ledger's positions
        (other bots' Redis keys are not this bot's to read), at the last prices known
        here, else at each position's average price."""
        from core.db import connect

        with connect(self.settings, Role.BOT) as conn:
            rows = conn.execute(
                "SELECT p.symbol, p.qty, p.avg_price FROM analytics.bot_positions p"
                " JOIN trading.bots b USING (bot_id) WHERE b.account = %s AND p.qty <> 0"
                " AND p.bot_id <> 'external'",  # its account is not one column
                (str(self.reg.account),),
            ).fetchall()
        return sum(
            (abs(qty) * (self.prices.get(symbol) or avg) for symbol, qty, avg in rows), _ZERO
        )

    @staticmethod
    def _bound_exit(intent: ExitMarket, open_qty: dict[str, Decimal]) -> ExitMarket | None:
        """A market exit never closes more than the bot's own ledger position.

        A strategy can ask to close a trade whose exchange-side stop or take profit has
        just filled but whose fill has not reached it yet (the candle came first). On a
        shared account the surplus would open a position in the other direction, or
        eat into another bot's; so the exit is cut to what the ledger still holds, and
        dropped when that is nothing. The ledger is never behind the strategy: fills
        reach a strategy only after they are committed there.
        """
        own = open_qty.get(intent.symbol, _ZERO)
        closable = own if intent.side == "Sell" else -own
        if closable <= 0:
            log.info(
                "exit %s %s skipped: the ledger position is %s (already closed)",
                intent.side,
                intent.symbol,
                own,
            )
            return None
        qty = min(intent.qty, closable)
        open_qty[intent.symbol] = own - qty if intent.side == "Sell" else own + qty
        if qty != intent.qty:
            log.info(
                "exit %s %s cut from %s to the ledger's %s", intent.side, intent.symbol,
                intent.qty, qty,
            )  # fmt: skip
            return replace(intent, qty=qty)
        return intent

    # --- liveness --------------------------------------------------------------------------

    def _beat(self) -> None:
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_EVERY:
            self._last_beat = now
            self.redis.set(
                redis_keys.heartbeat(self.reg.bot_id),
                datetime.now(UTC).isoformat(),
                ex=HEARTBEAT_TTL,
            )
        if now - self._last_db_beat >= DB_HEARTBEAT_EVERY:
            self._last_db_beat = now
            self._db_heartbeat()

    def _db_heartbeat(self) -> None:
        from core.db import connect

        try:
            with connect(self.settings, Role.BOT) as conn:
                conn.execute(
                    "UPDATE trading.bots SET last_heartbeat = now() WHERE bot_id = %s",
                    (self.reg.bot_id,),
                )
        except Exception as exc:
            log.warning("heartbeat not written to PostgreSQL: %s", exc)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
        if self._reader is not None:
            self._reader.join(timeout=2)
