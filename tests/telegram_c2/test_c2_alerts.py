"""Alerts reach admins once per incident; the C2's own monitors raise them too."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import redis.exceptions
from c2_harness import ADMIN, ADMIN_2, FAST, VIEWER, add_bot, run, running_c2

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


async def _pending(c2) -> int:
    return (await c2.c2.redis.infra.xinfo_groups(ALERTS))[0]["pending"]


async def _attempts(c2, count: int) -> None:
    """Wait until the fake Bot API has refused ``count`` sendMessage calls."""
    for _ in range(200):
        if len(c2.api.failed) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} refused sends, saw {len(c2.api.failed)}")


def test_an_undelivered_alert_stays_pending_and_is_retried_with_backoff(c2_env) -> None:
    infra = c2_env.redis(15)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            await _settle(c2, 0)
            c2.api.fail("sendMessage", "429", chat_id=ADMIN)  # Telegram's flood control
            infra.xadd(ALERTS, {"kind": "backup", "text": "backup failed", "severity": "critical"})
            await _attempts(c2, 1)
            await asyncio.sleep(1)  # five polls: all inside the backoff
            assert len(c2.api.failed) == 1
            assert await _pending(c2) == 1  # not acknowledged: nobody received it
            c2.clock.advance(FAST.alert_retry_first.total_seconds())
            await _attempts(c2, 2)  # retried once the backoff is over …
            c2.clock.advance(FAST.alert_retry_first.total_seconds())
            await asyncio.sleep(1)
            assert len(c2.api.failed) == 2  # … and the next wait is twice as long
            c2.api.heal()
            c2.clock.advance(FAST.alert_retry_first.total_seconds())
            await _settle(c2, 1)
            assert _alert_texts(c2) == ["🚨 backup: backup failed"]

    run(scenario())


def test_an_admin_who_blocked_the_bot_does_not_hold_alerts_back(c2_env) -> None:
    infra = c2_env.redis(15)

    async def scenario() -> None:
        async with running_c2(c2_env, admins=[ADMIN, ADMIN_2]) as c2:
            await _settle(c2, 0)
            c2.api.fail("sendMessage", "403", chat_id=ADMIN_2)
            infra.xadd(ALERTS, {"kind": "drift", "text": "BTCUSDT differs"})
            await _settle(c2, 1)
            assert _alert_texts(c2) == ["⚠️ drift: BTCUSDT differs"]

    run(scenario())


def test_critical_alerts_bypass_the_rate_limit_and_the_rest_wait_or_batch(c2_env) -> None:
    infra = c2_env.redis(15)
    slow = replace(FAST, alerts_per_minute=2, alert_poll_seconds=3600)  # polled by hand

    async def scenario() -> None:
        async with running_c2(c2_env, tuning=slow) as c2:
            pump: AlertPump = c2.app.bot_data["alerts"]
            for n in range(2):
                infra.xadd(ALERTS, {"kind": "k", "key": f"w{n}", "text": f"warning {n}"})
            assert await pump.poll_once() == 2  # the minute's allowance is used up
            for n in range(2, 5):
                infra.xadd(ALERTS, {"kind": "k", "key": f"w{n}", "text": f"warning {n}"})
            infra.xadd(ALERTS, {"kind": "listener", "text": "down", "severity": "critical"})
            assert await pump.poll_once() == 1  # only the critical one goes now
            assert _alert_texts(c2)[-1] == "🚨 listener: down"
            assert await _pending(c2) == 3  # the warnings wait, unacknowledged
            c2.clock.advance(61)
            infra.xadd(ALERTS, {"kind": "k", "key": "w5", "text": "warning 5"})
            assert await pump.poll_once() == 4  # one alone, three in one batch
            assert await _pending(c2) == 0
            assert _alert_texts(c2) == [
                "⚠️ k: warning 0",
                "⚠️ k: warning 1",
                "🚨 listener: down",
                "⚠️ k: warning 2",
                "3 alerts (batched by the rate limit):\n"
                "⚠️ k: warning 3\n⚠️ k: warning 4\n⚠️ k: warning 5",
            ]

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


def test_an_alert_pending_when_the_c2_stops_is_delivered_after_its_restart(
    c2_env, monkeypatch
) -> None:
    """The C2's container is recreated on an upgrade, with a new hostname (the consumer's
    name): what the old one read but could not deliver must still arrive."""
    infra = c2_env.redis(15)

    async def scenario() -> None:
        monkeypatch.setattr("socket.gethostname", lambda: "c2-container-before")
        async with running_c2(c2_env) as c2:
            await _settle(c2, 0)
            c2.api.fail("sendMessage", "network", chat_id=ADMIN)
            infra.xadd(ALERTS, {"kind": "backup", "text": "backup failed", "severity": "critical"})
            await _attempts(c2, 1)
            assert await _pending(c2) == 1
        monkeypatch.setattr("socket.gethostname", lambda: "c2-container-after")
        async with running_c2(c2_env) as c2:
            await _settle(c2, 1)
            assert _alert_texts(c2) == ["🚨 backup: backup failed"]

    run(scenario())
