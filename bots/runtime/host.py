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
* entries pass the risk gate and the bot's state (paused: exits only; stopped: none),
  the stricter of its Redis key and its registry row, so a lost key never un-pauses it;
* after a crash it adopts the ledger's positions and its own resting orders rather than
  entering again, so a restart neither duplicates entries nor forgets stops;
* through a Redis outage each of its Redis calls waits where it failed and the decision
  goes on from there, so nothing already done (an order sent) is done twice;
* SIGTERM stops it without touching positions: only ``flatten`` closes them.

This module wires the pieces and owns the decision loop; each concern has its own module
in this package: the ledger reads (``ledger_view``), the fill stream and its redelivery
guard (``streams``, ``fills``), the checks between an intent and an order
(``execution``), operators' commands (``commands``), the state it obeys
(``obeyed_state``), the strategy's memos (``memos``), the starting capital (``capital``)
and liveness (``heartbeat``).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import redis

from bots.runtime import reload as reloading
from bots.runtime.capital import capital_from_wallet
from bots.runtime.commands import OperatorCommands
from bots.runtime.drift_gate import DriftGate
from bots.runtime.exchange_cancels import ended_by_exchange
from bots.runtime.execution import IntentExecutor
from bots.runtime.exit_ends import ExitEnds
from bots.runtime.fills import fill_event, first_delivery
from bots.runtime.heartbeat import Heartbeat
from bots.runtime.ledger_view import ZERO, Holdings, LedgerView
from bots.runtime.leverage import LeverageGuard
from bots.runtime.loss_limits import LossLimits
from bots.runtime.market import (
    CandleSequencer,
    closed_candle,
    closed_history,
    server_now,
    stored_history,
)
from bots.runtime.memos import MemoStore
from bots.runtime.notify import Notifier, closing_of
from bots.runtime.obeyed_state import ObeyedState
from bots.runtime.registration import Registration, load_registration
from bots.runtime.streams import (
    GROUP,
    ensure_groups,
    pending_fills,
    read_streams,
    reader_streams,
)
from bots.runtime.universe import Universe
from core import plugins, redis_keys
from core.candles import Candle
from core.config import Role, Settings
from core.db import KeptConnection
from core.errors import UserError
from core.instruments import Instrument
from core.notify import settings_of
from core.orders import OrderBook, OrderManager, new_intent_id
from core.outages import unreachable
from core.redis_client import stream_fields, sync_reply, wait_for_redis
from core.risk import BotState, RiskGate, split_config
from core.strategy import (
    Intent,
    PositionView,
    Strategy,
    StrategyContext,
)

log = logging.getLogger(__name__)


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

        #: The per-bar ledger reads (order states, exits, the risk gate's account notional,
        #: the P&L of a fill for its notification) share one kept connection as the bot's
        #: own role: a new one per read cost a handshake.
        self.reads = KeptConnection(settings, Role.BOT)
        #: The bot's events for its operators (fills, rejections, halts …).
        self.notify = Notifier(
            registration.bot_id,
            settings_of(registration.config),
            alert,
            closing=lambda fields: closing_of(self.reads, registration.bot_id, fields),
        )
        self.drift = DriftGate(settings, str(registration.account))
        self.loss_limits = LossLimits(bot_redis, registration.bot_id, limits, self.notify)
        #: Stops, take profits and exits that filled, until finished (exit_ends.py).
        self.exit_ends = ExitEnds(self.reads, registration.bot_id)
        self.orders = OrderManager(
            http,
            registration.bot_id,
            registration.bot_code,
            OrderBook(bot_redis, registration.bot_id),
            instruments,
            exclusive=bool(getattr(self.strategy.config, "exclusive", False)),
            smp_type=self.strategy.config.smp_type,
        )
        self.leverage = LeverageGuard(
            http, registration.bot_id, self.strategy.config.leverage, alert
        )
        self.universe = Universe(
            self.strategy, http, bot_redis, registration.bot_id, self.notify.universe
        )
        self.ledger = LedgerView(self.reads, bot_redis, registration.bot_id)
        self.memos = MemoStore(bot_redis, registration.bot_id, self.strategy)
        #: What the bot obeys: the stricter of its Redis state key and its registry row.
        self.obeyed = ObeyedState(self.reads, bot_redis, registration.bot_id, registration.status)
        self.heartbeat = Heartbeat(
            self.reads, bot_redis, registration.bot_id, on_status=self.obeyed.registry_read
        )
        #: Every symbol the bot follows: its universe, its registered symbols and wherever
        #: it still holds something. It only enters in the universe.
        self.symbols = list(self.strategy.symbols)
        self.interval = self.strategy.interval
        self.sequencer = CandleSequencer(self.interval)
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.prices: dict[str, Decimal] = {}
        self.executor = IntentExecutor(
            strategy=self.strategy,
            orders=self.orders,
            gate=self.gate,
            loss_limits=self.loss_limits,
            universe=self.universe,
            drift=self.drift,
            leverage=self.leverage,
            notify=self.notify,
            infra=infra_redis,
            prices=self.prices,
            state_and_positions=self.state_and_positions,
            context=self.context,
            account_notional=lambda: self.ledger.account_notional(
                str(registration.account), self.prices
            ),
        )
        self.commands = OperatorCommands(
            strategy=self.strategy,
            orders=self.orders,
            executor=self.executor,
            loss_limits=self.loss_limits,
            notify=self.notify,
            state=self.state,
            context=self.context,
            reload=self.reload,
            acknowledge_state=self.acknowledge_state,
        )
        #: The bot's allocation; without one, set from the wallet once in start().
        self.capital = registration.initial_capital or ZERO
        self.now = datetime.now(UTC)
        self._stream_factory = public_stream_factory
        self._stream: Any = None
        self._readers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self.decisions = 0
        #: Start of the last candle per symbol whose decision (and orders) is complete.
        self.decided: dict[str, datetime] = {}
        #: Set once start-up (recovery, warm-up, subscriptions) is done.
        self.ready = threading.Event()

    # --- state the strategy reads ------------------------------------------------------

    def holdings(self) -> Holdings:
        return self.ledger.holdings(self.symbols)[0]

    def positions(self) -> dict[str, PositionView]:
        return self.holdings().positions

    def equity(self, holdings: Holdings) -> Decimal:
        """Allocation + this bot's realized P&L (ledger) + its unrealized P&L at the last
        price. Never the account's wallet: on a shared account that holds every bot's
        P&L, and the bot's own P&L is in it already."""
        return self.capital + holdings.realized + self.unrealized(holdings.positions)

    def unrealized(self, positions: Mapping[str, PositionView]) -> Decimal:
        return sum(
            ((self.prices.get(s, p.avg_price) - p.avg_price) * p.qty for s, p in positions.items()),
            ZERO,
        )

    def _own_pnl(self) -> Decimal:
        holdings = self.holdings()
        return holdings.realized + self.unrealized(holdings.positions)

    def context(self) -> StrategyContext:
        holdings = self.holdings()
        return StrategyContext(
            now=self.now,
            equity=self.equity(holdings),
            instruments=self.orders.instruments,
            positions=holdings.positions,
            id_source=new_intent_id,
            prices=dict(self.prices),
        )

    def state(self) -> BotState:
        return self.obeyed.obey(sync_reply(self.redis.get(redis_keys.bot_state(self.reg.bot_id))))

    def state_and_positions(self) -> tuple[BotState, dict[str, PositionView]]:
        """What the risk checks read before sending: one round trip, not two."""
        holdings, value = self.ledger.holdings(
            self.symbols, also_get=redis_keys.bot_state(self.reg.bot_id)
        )
        return self.obeyed.obey(value), holdings.positions

    # --- start-up ----------------------------------------------------------------------

    def start(self) -> None:
        """Recover, warm up and subscribe. Raises UserError when the exchange is unreachable."""
        self._init_state()
        ensure_groups(self.redis, self.reg.bot_id)
        try:
            self.now = server_now(self.http)
            if self.universe.dynamic:
                self.universe.refresh(self.now)
                # The registered symbols stay followed even outside the universe: their
                # candles are the bot's clock (an empty universe must still be refreshed).
                followed = [*self.universe.current, *self.ledger.held(), *self.strategy.symbols]
                self.symbols = list(dict.fromkeys(followed))
            self._add_instruments(self.symbols)
            resting = self.orders.reconcile(self.symbols)
            history = self._warm_up()
            if self.reg.initial_capital is None:
                self.capital = capital_from_wallet(self.http, self.reg, self._own_pnl)
        except Exception as exc:
            from core.exchange.rest import classify

            info = classify(exc)
            if info is None:
                raise
            raise UserError(f"exchange unreachable or refusing ({info})") from None
        self.memos.recall(self.symbols)
        self._adopt(resting)
        self.memos.save(self.symbols)
        log.info(
            "bot %s warmed up on %d candles; %d resting orders adopted",
            self.reg.bot_id,
            len(history),
            len(resting),
        )
        self._drain_pending()
        self._subscribe()
        for names in reader_streams(self.reg.bot_id, cluster=self.settings.redis.cluster):
            reader = threading.Thread(
                target=read_streams,
                args=(self.redis, self.reg.bot_id, self.events, self._stopping, names),
                name="bot-streams",
                daemon=True,
            )
            reader.start()
            self._readers.append(reader)
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

    def _refresh_universe(self) -> None:
        self.universe.refresh(self.now)
        # Every universe symbol not followed yet, not only those that joined just now: one
        # whose rules or warm-up failed last time is taken up again.
        joined = [s for s in self.universe.current if s not in self.symbols]
        if not joined:
            return
        try:
            self._add_instruments(joined)
            self._warm_up(joined)  # feeds the strategy only once every history is read
        except Exception as exc:
            from core.exchange.rest import classify

            info = classify(exc)
            if info is None:
                raise
            log.warning("bot %s: %s not followed yet (exchange unreachable or refusing: %s);"
                        " tried again at the next refresh", self.reg.bot_id,
                        ",".join(joined), info)  # fmt: skip
            return
        self.symbols += joined
        self._subscribe()

    def _init_state(self) -> None:
        key = redis_keys.bot_state(self.reg.bot_id)
        initial = {"paused": "paused", "stopped": "stopped"}.get(self.reg.status, "running")
        self.redis.set(key, initial, nx=True)  # an operator's later choice wins

    def _warm_up(self, symbols: list[str] | None = None) -> list[Candle]:
        """Feeds ``symbols`` (default: every followed one) their closed history: from the
        market data store when it holds the whole range, else from REST."""
        bars = max(self.strategy.warmup_bars, 1)
        wanted = self.symbols if symbols is None else symbols
        stored = self._stored_history(wanted, bars)
        candles: list[Candle] = []
        for symbol in wanted:
            history = stored.get(symbol)
            if history is None:
                history = closed_history(self.http, symbol, self.interval, bars, self.now)
            candles.extend(history)
            if history:
                self.prices[symbol] = history[-1].close
        candles.sort(key=lambda c: (c.start, c.symbol))
        self.strategy.warm_up(candles)
        for candle in candles:
            self.sequencer.accept(candle)
        return candles

    def _stored_history(self, symbols: list[str], bars: int) -> dict[str, list[Candle]]:
        """The symbols whose warm-up range the store holds completely, and their candles.
        Any failure to read it (no database, no grant) is a warning: REST still works."""
        from core.candles import EXCHANGE_NAMES
        from core.config import Role
        from core.db import connect

        out: dict[str, list[Candle]] = {}
        exchange = EXCHANGE_NAMES[self.settings.bybit.env]
        try:
            with connect(self.settings, Role.BOT) as conn:
                for symbol in symbols:
                    found = stored_history(conn, exchange, symbol, self.interval, bars, self.now)
                    if found is not None:
                        out[symbol] = found
        except Exception as exc:
            log.warning("warm-up: the market data store not read (%s); asking the exchange", exc)
            return {}
        if out:
            log.info("warm-up from the store: %s", ", ".join(sorted(out)))
        return out

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
                    view = replace(view, opened_at=self.ledger.opened_at(symbol, view.qty))
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

    def _drain_pending(self) -> None:
        """Fills delivered before a crash but not acknowledged: handle them now (idempotent)."""
        for entry_id, fields in pending_fills(self.redis, self.reg.bot_id):
            self._on_fill(entry_id, fields)

    # --- the feeding thread (the Redis reader is streams.read_streams) ------------------

    def _on_ws(self, message: dict[str, Any]) -> None:
        for candle in closed_candle(message):
            self.events.put(("candle", candle))

    # --- the decision thread -------------------------------------------------------------

    def wait_for_redis(self, stop: threading.Event) -> None:
        """From now on a failed Redis call of this host waits for Redis and goes on from
        where it failed, until ``stop`` is set. A decision cannot go on without Redis (its
        position is read there before every order), and starting it again would not be
        safe: a decision half done (an order sent, its stop not yet) is finished, never
        started twice."""
        for client in (self.redis, self.infra):
            wait_for_redis(client, f"bot {self.reg.bot_id}", stop)

    def run(self, stop: threading.Event) -> None:
        self._stopping = stop
        self.wait_for_redis(stop)
        try:
            self._run(stop)
        except redis.RedisError as exc:  # a wait given up: refused, or CLUSTERDOWN
            if not stop.is_set():
                raise
            log.warning("bot %s stopped while waiting for Redis (%s)", self.reg.bot_id, exc)

    def _run(self, stop: threading.Event) -> None:
        self.start()
        try:
            while not stop.is_set():
                self.heartbeat.beat()
                try:
                    kind, payload = self.events.get(timeout=0.5)
                except queue.Empty:
                    self._on_exit_ends()
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
        self._on_exit_ends(force=bool(candles))  # before the candles, as exchange cancels
        if candles:
            self._on_exchange_cancels()  # before the candles: the strategy decides on facts
        for candle in sorted(candles, key=lambda c: (c.start, c.symbol)):
            self._on_candle(candle)
        if candles:
            self._execute(self.strategy.on_timer(self.context()))
            if self.universe.due(self.now):
                self._refresh_universe()
        self.memos.save(self.symbols)
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
        exec_id = fields.get("exec_id", "")
        prune = self.decisions % 1000 == 0
        first_time = first_delivery(self.redis, self.reg.bot_id, exec_id, prune=prune)
        if first_time and fields.get("exec_type", "Trade") != "Funding":
            link = fields.get("order_link_id", "")
            sibling_cancels = self.orders.on_fill(link, Decimal(fields["exec_qty"]))
            tracked = self.orders.book.by_link.get(link)
            event = fill_event(fields, tracked.intent_id if tracked else None)
            self.now = max(self.now, event.exec_time)
            ctx = self.context()
            self.loss_limits.observe(ctx.now, ctx.equity)
            self._execute([*sibling_cancels, *self.strategy.on_fill(event, ctx)])
            self.exit_ends.filled(tracked)
            self.notify.filled(event, fields, tracked)  # after the reaction: it reads the DB
        self.redis.xack(redis_keys.fills_stream(self.reg.bot_id), GROUP, entry_id)

    def _on_exchange_cancels(self) -> None:
        """Orders the exchange ended while the bot believed them open (a self-match
        prevention cancel, ``exchange_cancels``): forgotten, and the strategy told as of
        a refused intent, so it does not wait on them."""
        believed = [t for t in self.orders.book.by_intent.values() if t.status == "open"]
        ended = ended_by_exchange(self.reads, self.reg.bot_id, believed)
        if not ended:
            return
        ctx = self.context()
        more: list[Intent] = []
        for cancel in ended:
            self.exit_ends.forget(cancel.tracked.link_id)  # the strategy is told here, once
            cancel.tracked.status = "done"
            self.orders.book.save(cancel.tracked)
            log.warning("%s order %s %s (link %s) %s", cancel.tracked.kind, cancel.tracked.side,
                        cancel.tracked.symbol, cancel.tracked.link_id, cancel.why)  # fmt: skip
            more += self.strategy.on_rejected(cancel.as_intent(), cancel.why, ctx)
        self._execute(more, follow_up=False)

    def _on_exit_ends(self, *, force: bool = False) -> None:
        """Stops, take profits and market exits that are finished after filling (part
        of) their quantity: the strategy closes what its trade still holds
        (``on_exit_ended``)."""
        finished = self.exit_ends.finished(force=force)
        if not finished:
            return
        ctx = self.context()
        intents: list[Intent] = []
        for tracked in finished:
            if tracked.status != "done":
                tracked.status = "done"  # a rest cancelled: not an exchange cancel to report
                self.orders.book.save(tracked)
            intents += self.strategy.on_exit_ended(tracked.intent_id, tracked.symbol, ctx)
        self._execute(intents)

    def _on_command(self, entry_id: str, fields: Mapping[str, str]) -> None:
        self.commands.handle(fields, self.symbols)
        self.redis.xack(redis_keys.commands_stream(self.reg.bot_id), GROUP, entry_id)

    def reload(self, fields: Mapping[str, str]) -> None:
        """Take the registration as it is stored now where that is safe
        (bots/runtime/reload.py) and answer the operator on ``bot:{id}:reply:{id}``."""
        try:
            plan = reloading.plan(
                self.reg, load_registration(self.settings, self.reg.bot_id), self.strategy
            )
        except Exception as exc:
            away = unreachable(exc)  # a connection refused: not the operator's mistake
            if away is None and not isinstance(exc, UserError):
                raise
            if away is None:
                answer = f"refused: {exc}"
            else:  # libpq's message names the database's address: the log has it, not the reply
                log.warning("reload: %s unreachable (%s)", away, exc)
                answer = f"refused: {away} is unreachable; nothing applied"
        else:
            if plan.restart:
                answer = "needs restart: " + "; ".join(plan.restart)
            elif not plan.changes:
                self.reg = plan.new
                answer = "nothing to apply"
            else:
                answer = self._apply(plan)
        log.info("reload by %s: %s", fields.get("requested_by", "?"), answer)
        command_id = fields.get("id", "")
        if command_id:
            key = redis_keys.command_reply(self.reg.bot_id, command_id)
            pipe = self.redis.pipeline()
            pipe.rpush(key, answer)
            pipe.expire(key, redis_keys.COMMAND_REPLY_TTL_SECONDS)
            pipe.execute()

    def acknowledge_state(self, fields: Mapping[str, str]) -> None:
        """Record the state this process obeys from now on: the key itself (a later
        write wins over the notice's ``state``), when, and which command said so. The
        notice comes after the operator's transaction committed: the registry is read
        again first, so a resume is obeyed at once (bots/runtime/obeyed_state.py)."""
        self.obeyed.reread()
        state = self.state()
        self.redis.hset(
            redis_keys.state_applied(self.reg.bot_id),
            mapping={"state": state.value, "at": datetime.now(UTC).isoformat(),
                     "id": fields.get("id", "")},
        )  # fmt: skip
        log.info("state %s applied (asked by %s)", state.value, fields.get("requested_by", "?"))

    def _apply(self, plan: reloading.Plan) -> str:
        joined = [s for s in plan.joined if s not in self.symbols]
        if joined:
            try:  # first: an exchange that does not answer leaves everything as it was
                self._add_instruments(joined)
            except Exception as exc:
                from core.exchange.rest import classify

                info = classify(exc)
                if info is None:
                    raise
                return f"refused: exchange unreachable or refusing ({info}); nothing applied"
        if plan.limits is not None:
            self.gate.limits = plan.limits
            self.loss_limits.set_limits(plan.limits)
        if plan.notify is not None:
            self.notify.settings = plan.notify
        if plan.config is not None:
            self.strategy.reconfigure(plan.config)
        if plan.joined or plan.left:
            if not self.universe.dynamic:  # a refreshed universe chooses for itself
                self.universe.current = list(self.strategy.symbols)
            if joined:
                self._warm_up(joined)
                self.symbols += joined
                self._subscribe()
        self.reg = plan.new
        return "applied: " + ", ".join(plan.changes)

    def _add_instruments(self, symbols: list[str]) -> None:
        """The exchange's rules (quantity step, tick, minimums) of the ``symbols`` the
        host has none for yet. The service fetched the registered symbols' only; a symbol
        a universe refresh, a reload or a held position brings must not be sized by the
        permissive fallback, which the exchange refuses (10001) or, worse, accepts."""
        from core.exchange.rest import instruments as fetch_instruments

        wanted = {s for s in symbols if s not in self.orders.instruments}
        if not wanted:
            return
        for item in fetch_instruments(self.http):
            if item["symbol"] in wanted:
                self.orders.instruments[item["symbol"]] = Instrument.from_bybit(item)

    def flatten(self) -> None:
        """Close this bot's own positions with tagged orders and cancel its resting orders."""
        self.commands.flatten(self.symbols)

    def exit_symbol(self, symbol: str) -> None:
        """Close this bot's own position in ``symbol`` (see :class:`OperatorCommands`)."""
        self.commands.exit_symbol(symbol, self.symbols)

    def _execute(self, intents: Iterable[Intent], *, follow_up: bool = True) -> None:
        self.executor.execute(intents, follow_up=follow_up)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
        for reader in self._readers:
            reader.join(timeout=2)
        self.reads.close()
