"""Alerts reach admins once per incident; the C2's own monitors raise them too."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import redis.exceptions
from c2_harness import ADMIN, FAST, VIEWER, add_bot, run, running_c2

from telegram_c2.alerts import AlertPump, Monitor

ALERTS = "alerts"


def _alert_texts(c2) -> list[str]:
    return [
        str(c.params["text"])
        for c in c2.api.calls_to("sendMessage")
        if int(c.params["chat_id"]) == ADMIN
    ]


async def _settle(c2, stream_len: int) -> None:
    """Wait until the pump has acknowledged every entry of the stream."""
    infra = c2.c2.redis.infra
    for _ in range(200):
        try:
            groups = await infra.xinfo_groups(ALERTS)
        except redis.exceptions.ResponseError:  # no stream yet: the pump has not started
            groups = []
        last = await infra.xrevrange(ALERTS, count=1) if groups else []
        assert len(last) <= 1 and await infra.xlen(ALERTS) == stream_len if groups else True
        if (
            groups
            and groups[0]["pending"] == 0
            and (not last or groups[0]["last-delivered-id"] == last[0][0])
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("alerts not consumed")


def test_alerts_arrive_once_per_incident(c2_env) -> None:
    infra = c2_env.redis(15)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            await _settle(c2, 0)  # the consumer group exists
            drift = {"kind": "drift", "account": "main", "symbol": "BTCUSDT",
                     "text": "BTCUSDT: exchange 1, bots 0", "severity": "critical"}  # fmt: skip
            for _ in range(5):  # an outage repeats the same alert every few seconds
                infra.xadd(ALERTS, drift)
            infra.xadd(ALERTS, {"kind": "backup", "text": "backup failed: disk full"})
            await _settle(c2, 6)
            texts = _alert_texts(c2)
            assert len(texts) == 2, texts
            assert "drift: BTCUSDT: exchange 1, bots 0" in texts[0]
            assert "backup failed" in texts[1]
            # After the de-duplication window the incident is reported again, with a count.
            c2.clock.advance(FAST.alert_dedup_window.total_seconds() + 1)
            infra.xadd(ALERTS, drift)
            await _settle(c2, 7)
            texts = _alert_texts(c2)
            assert len(texts) == 3 and "(4 repeat(s) suppressed)" in texts[2]
            # Only admins get alerts.
            assert not [c for c in c2.api.calls if c.params.get("chat_id") == VIEWER]

    run(scenario())


def test_rate_limit_holds_back_a_flood_of_distinct_alerts(c2_env) -> None:
    async def scenario() -> None:
        async with running_c2(c2_env, tuning=replace(FAST, alerts_per_minute=3)) as c2:
            pump: AlertPump = c2.app.bot_data["alerts"]
            sent = [await pump.handle({"kind": "k", "key": f"i{n}", "text": "x"}) for n in range(6)]
            assert sent == [True, True, True, False, False, False]
            c2.clock.advance(61)
            assert await pump.handle({"kind": "k", "key": "later", "text": "y"})
            assert "3 other alert(s) held back" in _alert_texts(c2)[-1]

    run(scenario())


def test_monitor_raises_heartbeat_lost_and_listener_down(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    add_bot(c2_env, "beta_two", "b2", 4)
    c2_env.redis(4).set("bot:beta_two:heartbeat", "2030-01-01T00:00:00+00:00", ex=60)
    c2_env.redis(15).hset("listener:status", mapping={"main:connected": "0"})

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            monitor = Monitor(c2.c2)
            await monitor.check()  # listener down just now: under the threshold
            c2.clock.advance(FAST.listener_down_after.total_seconds())
            await monitor.check()
            await _settle(c2, 3)
            texts = _alert_texts(c2)
            assert len(texts) == 2, (texts, c2_env.redis(15).xrange(ALERTS), c2.api.calls)
            assert any("alpha_one heartbeat lost" in t for t in texts)
            assert any("listener disconnected for 2m" in t for t in texts)
            assert not any("beta_two" in t for t in texts)

    run(scenario())
