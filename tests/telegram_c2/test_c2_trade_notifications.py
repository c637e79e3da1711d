"""Trade notifications end to end: a ShortSeller trading on the paper exchange, its fills
written by the real listener, the bot's notifications on the real ``alerts`` stream, and
the real C2 Application delivering them to the fake Bot API.

The C2 runs on its own thread (``c2_in_thread``) with its alert job polled by hand, so
each delivery step is explicit: one poll, then the C2's clock moves one digest interval.
The market is the loss-limit test's: 20 rising bars, then a cross below the EMAs (bar
20: the short entry), then a bar through the 1 % stop (bar 21).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from c2_harness import ADMIN, FAST, c2_in_thread

from bots.runtime.notify import plain
from core import notify as kinds
from core import redis_keys
from tests.bots.e2e.harness import SYMBOL, flat_bars, hand_realized, stack, wait
from tests.bots.e2e.test_e2e_restart import CONFIG

#: Alerts polled by hand; a digest per bot at most every 15 s of the C2's (fake) clock.
HAND = replace(FAST, alert_poll_seconds=3600)
STEP = HAND.notify_digest_every.total_seconds()


def _bars():
    history = [(60000 + 10 * (i - 1), 60000 + 10 * i, 60000 + 10 * (i - 1), 60000 + 10 * i)
               for i in range(20)]  # fmt: skip
    live = [(60190, 60190, 59800, 59800)]  # bar 20: the cross, a short entry
    live.append((59800, 60500, 59800, 60450))  # bar 21: through the 1 % stop
    return history, [*live, *flat_bars(60450, 10)]


def _notifications(infra: Any, bot_id: str | None = None) -> list[dict[str, str]]:
    return [
        f
        for _, f in infra.xrange(redis_keys.ALERTS)
        if f.get("kind") in kinds.KINDS and (bot_id is None or f.get("bot_id") == bot_id)
    ]


def _poll(c2: Any) -> int:
    """One run of the C2's alert job, on the C2's loop; returns the entries acknowledged."""
    pump = c2.app.bot_data["alerts"]
    return asyncio.run_coroutine_threadsafe(pump.poll_once(), c2.loop).result(60)  # type: ignore[no-any-return]


def _messages(c2: Any) -> list[str]:
    return [str(c.params["text"]) for c in c2.api.calls_to("sendMessage")
            if int(c.params["chat_id"]) == ADMIN]  # fmt: skip


#: What a notification's line says, in a digest or alone.
SAYS = {
    "trade_entry": "entry filled,",
    "trade_exit": "exit filled (",
    "flatten_done": "flatten done:",
    "order_rejected": "order rejected by the exchange",
}


def _lines(c2: Any, kind: str) -> list[str]:
    return [line for m in _messages(c2) for line in m.splitlines() if SAYS[kind] in line]


def _unacknowledged(infra: Any) -> int:
    group = infra.xinfo_groups(redis_keys.ALERTS)[0]
    last = infra.xrevrange(redis_keys.ALERTS, count=1)
    behind = bool(last) and group["last-delivered-id"] != last[0][0]
    return int(group["pending"]) + int(behind)


def _deliver_all(c2: Any, infra: Any, *, limit: int = 40) -> list[int]:
    """Poll, then move the clock one digest interval, until every entry is acknowledged;
    returns how many messages each poll sent."""
    sent = []
    for _ in range(limit):
        before = len(_messages(c2))
        _poll(c2)
        sent.append(len(_messages(c2)) - before)
        if _unacknowledged(infra) == 0:
            return sent
        c2.clock.advance(STEP)
    raise AssertionError(f"alerts still unacknowledged after {limit} polls: {sent}")


def test_a_trade_is_announced_once_at_entry_and_once_at_exit_with_the_ledger_pnl(
    c2_env, tmp_path
) -> None:
    history, live = _bars()
    infra = c2_env.redis(15)
    with (
        c2_in_thread(c2_env, tuning=HAND) as c2,
        stack(c2_env.database, tmp_path, history + live, len(history)) as s,
    ):
        s.register("ss_note", "sn1", "shortseller", CONFIG, redis_db=1)
        s.start_bot("ss_note")
        s.play()  # bar 20: the short entry
        _poll(c2)
        assert len(_messages(c2)) == 1 and _lines(c2, "trade_entry")
        s.play()  # bar 21: its stop
        c2.clock.advance(STEP)
        assert _deliver_all(c2, infra) == [1]

        entry, stop = s.fills("ss_note")
        assert (entry.reason, stop.reason) == ("entry", "sl")
        events = _notifications(infra)
        assert [e["kind"] for e in events] == ["trade_entry", "trade_exit"]
        opened, closed = events
        assert (opened["exec_id"], closed["exec_id"]) == (entry.exec_id, stop.exec_id)
        assert (opened["qty"], opened["price"], opened["fee"]) == (
            plain(entry.qty), plain(entry.price), plain(entry.fee))  # fmt: skip
        # The exit fill's realized P&L net of its own fee, by hand: a short bought back.
        pnl = (entry.price - stop.price) * stop.qty - stop.fee
        assert Decimal(closed["pnl"]) == pnl < 0
        assert closed["pnl"] == plain(pnl)  # an exact decimal string, never a float
        assert Decimal(closed["trade_pnl"]) == hand_realized([entry, stop])  # both fees
        assert (closed["exit_reason"], closed["position_after"]) == ("stop", "0")
        # … and what the ledger's views say about the bot: the same money.
        assert s.analytics("ss_note", SYMBOL) == (0, hand_realized([entry, stop]))

        entries, exits = _lines(c2, "trade_entry"), _lines(c2, "trade_exit")
        assert len(entries) == 1 and len(exits) == 1, _messages(c2)
        assert f"Sell {plain(entry.qty)} {SYMBOL} @ {plain(entry.price)}" in entries[0]
        assert "exit filled (stop)" in exits[0] and f"P&L {plain(pnl)} USDT" in exits[0]
        assert f"net {plain(hand_realized([entry, stop]))} USDT" in exits[0]


def test_a_burst_of_200_fills_arrives_in_a_few_batched_messages(c2_env, tmp_path) -> None:
    history, live = _bars()
    infra = c2_env.redis(15)
    with (
        c2_in_thread(c2_env, tuning=HAND) as c2,
        stack(c2_env.database, tmp_path, history + live, len(history)) as s,
    ):
        # A thin book: 0.001 BTC a level, levels one tick apart. The bot sizes 0.1 BTC
        # (capital 8,550 × 7 % × 10 / 59,800), so its entry fills in 100 executions,
        # and so does the flatten that closes it.
        s.ex.control.post("/paper/liquidity", symbol=SYMBOL, qty_per_level="0.001",
                          level_bps="0.01")  # fmt: skip
        s.register("ss_burst", "sb1", "shortseller", CONFIG, redis_db=2, capital="8550")
        s.start_bot("ss_burst")
        s.play()  # bar 20: the entry, 100 fills
        s.command("ss_burst", "flatten")
        wait(lambda: s.qty("ss_burst") == 0, what="flatten")
        s.settle()
        fills = s.fills("ss_burst")
        assert [len([f for f in fills if f.reason == r]) for r in ("entry", "kill")] == [100, 100]

        events = _notifications(infra, "ss_burst")
        assert [sum(e["kind"] == k for e in events) for k in kinds.KINDS] == [
            100, 100, 0, 0, 0, 1, 0]  # fmt: skip
        assert all(e["exit_reason"] == "flatten" for e in events if e["kind"] == "trade_exit")
        # Every exit's P&L is its fill's, as the ledger folded it: they add up to the
        # trip's realized P&L less the entry fees (charged when the entries filled).
        exit_pnl = sum(Decimal(e["pnl"]) for e in events if e["kind"] == "trade_exit")
        entry_fees = sum(f.fee for f in fills if f.reason == "entry")
        assert exit_pnl - entry_fees == hand_realized(fills)

        per_poll = _deliver_all(c2, infra)
        messages = _messages(c2)
        assert len(messages) < 20, messages
        assert max(per_poll) == 1  # one message per bot per digest interval
        # The C2's own rate limit: never more than alerts_per_minute a minute (polls
        # are STEP seconds of its clock apart).
        per_minute = int(60 // STEP) + 1
        assert all(sum(per_poll[i : i + per_minute]) <= HAND.alerts_per_minute
                   for i in range(len(per_poll)))  # fmt: skip
        # Nothing lost, nothing twice: one line per notification.
        assert len(_lines(c2, "trade_entry")) == 100
        assert len(_lines(c2, "trade_exit")) == 100
        assert len(_lines(c2, "flatten_done")) == 1
        assert all(len(m) <= 4096 for m in messages)
        assert messages[0].startswith(f"{messages[0].count(chr(10))} notifications from ss_burst:")
        assert "\n• entry filled, Sell 0.001 BTCUSDT @ " in messages[0]
        _assert_telegram_limits(c2)


def _assert_telegram_limits(c2: Any) -> None:
    """At most 30 Bot API messages in any second, and 20 in any minute per group."""
    sends = [c for c in c2.api.calls if "chat_id" in c.params]
    times = sorted(c.at for c in sends)
    assert all(sum(t <= u < t + 1 for u in times) <= 30 for t in times)
    for chat in {int(c.params["chat_id"]) for c in sends if int(c.params["chat_id"]) < 0}:
        group = sorted(c.at for c in sends if int(c.params["chat_id"]) == chat)
        assert all(sum(t <= u < t + 60 for u in group) <= 20 for t in group)


def _quiet_now() -> str:
    """Quiet hours from an hour ago to an hour ahead (UTC, wrapping midnight if need be)."""
    now = datetime.now(UTC)
    return f"{now - timedelta(hours=1):%H:%M}-{now + timedelta(hours=1):%H:%M}"


def test_an_event_turned_off_and_quiet_hours_are_not_sent(c2_env, tmp_path) -> None:
    history, live = _bars()
    infra = c2_env.redis(15)
    with (
        c2_in_thread(c2_env, tuning=HAND) as c2,
        stack(c2_env.database, tmp_path, history + live, len(history)) as s,
    ):
        no_entries = CONFIG | {"notify": {"trade_entry": False}}
        quiet = CONFIG | {"notify": {"quiet_hours": _quiet_now()}}
        s.register("ss_exits", "se1", "shortseller", no_entries, redis_db=3)
        s.register("ss_quiet", "sq1", "shortseller", quiet, redis_db=4, account="solo")
        s.start_bot("ss_exits")
        s.start_bot("ss_quiet")
        s.play(2)  # both: the entry, then the stop
        for bot in ("ss_exits", "ss_quiet"):
            assert [f.reason for f in s.fills(bot)] == ["entry", "sl"]
        assert [e["kind"] for e in _notifications(infra, "ss_exits")] == ["trade_exit"]
        assert _notifications(infra, "ss_quiet") == []
        # Quiet hours mute info only: a critical alert about the quiet bot still goes out.
        infra.xadd(redis_keys.ALERTS, {"kind": "heartbeat", "bot_id": "ss_quiet",
                   "severity": "critical", "text": "ss_quiet heartbeat lost"})  # fmt: skip
        _deliver_all(c2, infra)
        messages = _messages(c2)
        assert _lines(c2, "trade_entry") == [] and len(_lines(c2, "trade_exit")) == 1
        assert "ss_exits: exit filled (stop)" in _lines(c2, "trade_exit")[0]
        assert not [m for m in messages if "ss_quiet" in m and "heartbeat" not in m]
        assert any("🚨 heartbeat: ss_quiet heartbeat lost" in m for m in messages)


def test_an_order_the_exchange_rejects_is_announced_with_its_code(c2_env, tmp_path) -> None:
    history, live = _bars()
    infra = c2_env.redis(15)
    with (
        c2_in_thread(c2_env, tuning=HAND) as c2,
        stack(c2_env.database, tmp_path, history + live, len(history)) as s,
    ):
        # Allocated far more than the account holds: 2,000,000 × 7 % × 10 is 1.4 M USDT
        # of notional, 140,000 of margin on an account of 100,000.
        s.register("ss_big", "sg1", "shortseller", CONFIG, redis_db=5, capital="2000000")
        s.start_bot("ss_big")
        s.play()  # bar 20: the cross; the exchange refuses the entry
        assert s.fills("ss_big") == [] and s.qty("ss_big") == 0
        events = _notifications(infra, "ss_big")
        assert [e["kind"] for e in events] == ["order_rejected"]
        (rejected,) = events
        assert (rejected["code"], rejected["order"], rejected["side"]) == (
            "110007",
            "entry",
            "Sell",
        )
        assert rejected["symbol"] == SYMBOL and rejected["reason"] == "entry"
        assert Decimal(rejected["qty"]) == Decimal("23.411")  # what was sent, rounded to the step
        _deliver_all(c2, infra)
        (line,) = _lines(c2, "order_rejected")
        assert "ss_big: order rejected by the exchange (entry Sell 23.411 BTCUSDT)" in line
        assert "110007" in line and "ab not enough" in line
