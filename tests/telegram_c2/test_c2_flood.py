"""Bots' notifications go out as one digest per bot, and no Bot API call ever exceeds
Telegram's flood limits (the Application's rate limiter, ``telegram_c2/flood.py``)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

from c2_harness import ADMIN, FAST, GROUP_CHAT, run, running_c2

from telegram_c2.alerts import AlertPump

ALERTS = "alerts"
HAND = replace(FAST, alert_poll_seconds=3600)  # polled by hand


def _note(bot: str, n: int, kind: str = "trade_entry", **extra: str) -> dict[str, str]:
    return {"kind": kind, "key": f"{kind}:{bot}:e{n}", "severity": "info", "bot_id": bot,
            "text": f"{bot}: entry filled, Sell 0.001 BTCUSDT @ {59800 - n}", **extra}  # fmt: skip


def _texts(c2) -> list[str]:
    return [str(c.params["text"]) for c in c2.api.calls_to("sendMessage")
            if int(c.params["chat_id"]) == ADMIN]  # fmt: skip


def _most_in_any(times: list[float], seconds: float) -> int:
    times = sorted(times)
    return max((sum(t <= u < t + seconds for u in times) for t in times), default=0)


def test_notifications_are_one_digest_per_bot_per_interval(c2_env) -> None:
    infra = c2_env.redis(15)

    async def scenario() -> None:
        async with running_c2(c2_env, tuning=HAND) as c2:
            pump: AlertPump = c2.app.bot_data["alerts"]
            for n in range(3):
                infra.xadd(ALERTS, _note("alpha", n))
            infra.xadd(ALERTS, _note("beta", 0))
            infra.xadd(ALERTS, {"kind": "drift", "text": "BTCUSDT differs"})
            assert await pump.poll_once() == 5
            assert _texts(c2) == [
                "⚠️ drift: BTCUSDT differs",
                "3 notifications from alpha:\n• entry filled, Sell 0.001 BTCUSDT @ 59800\n"
                "• entry filled, Sell 0.001 BTCUSDT @ 59799\n"
                "• entry filled, Sell 0.001 BTCUSDT @ 59798",
                "ℹ️ trade_entry: beta: entry filled, Sell 0.001 BTCUSDT @ 59800",
            ]
            # Within the interval the next notifications wait, unacknowledged …
            infra.xadd(ALERTS, _note("alpha", 3))
            infra.xadd(ALERTS, _note("alpha", 4, "risk_lift", resolved="1"))
            c2.clock.advance(HAND.notify_digest_every.total_seconds() - 1)
            assert await pump.poll_once() == 0
            assert (await infra_pending(c2)) == 2
            # … and go together once it is over.
            c2.clock.advance(1)
            assert await pump.poll_once() == 2
            assert _texts(c2)[-1] == (
                "2 notifications from alpha:\n• entry filled, Sell 0.001 BTCUSDT @ 59797\n"
                "✅ entry filled, Sell 0.001 BTCUSDT @ 59796"
            )

    run(scenario())


async def infra_pending(c2) -> int:
    return int((await c2.c2.redis.infra.xinfo_groups(ALERTS))[0]["pending"])


def test_digests_share_the_rate_limit_and_repeated_rejections_are_one_incident(c2_env) -> None:
    infra = c2_env.redis(15)
    slow = replace(HAND, alerts_per_minute=2)

    async def scenario() -> None:
        async with running_c2(c2_env, tuning=slow) as c2:
            pump: AlertPump = c2.app.bot_data["alerts"]
            rejected = {"kind": "order_rejected", "key": "order_rejected:gamma:BTCUSDT:110007",
                        "severity": "info", "bot_id": "gamma", "code": "110007",
                        "text": "gamma: order rejected by the exchange: 110007"}  # fmt: skip
            for bot in ("alpha", "beta"):
                infra.xadd(ALERTS, _note(bot, 0))
            infra.xadd(ALERTS, rejected)
            assert await pump.poll_once() == 2  # the minute's two messages: alpha, beta
            assert await infra_pending(c2) == 1  # gamma's waits for room
            c2.clock.advance(61)
            assert await pump.poll_once() == 1
            assert (
                _texts(c2)[-1] == "ℹ️ order_rejected: gamma: order rejected by the exchange: 110007"
            )
            # The strategy tries again on the next bars: the same incident, not news.
            for _ in range(3):
                infra.xadd(ALERTS, rejected)
            c2.clock.advance(61)
            assert await pump.poll_once() == 3
            assert len(_texts(c2)) == 3
            c2.clock.advance(slow.alert_dedup_window.total_seconds())
            infra.xadd(ALERTS, rejected)
            assert await pump.poll_once() == 1
            assert _texts(c2)[-1].endswith("110007\n(3 repeat(s) suppressed)")

    run(scenario())


def test_the_bot_api_never_gets_more_than_30_messages_a_second(c2_env) -> None:
    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            bot = c2.app.bot
            mark = len(c2.api.calls)
            started = time.monotonic()
            await asyncio.gather(
                *(bot.send_message(chat_id=ADMIN, text=f"m{i}") for i in range(75))
            )
            elapsed = time.monotonic() - started
            sends = [c for c in c2.api.calls[mark:] if c.method == "sendMessage"]
            assert len(sends) == 75
            assert _most_in_any([c.at for c in sends], 1.0) <= 30
            assert elapsed >= 2.0  # 75 at 30 a second: at least two full windows waited

    run(scenario())


def test_a_group_gets_at_most_its_limit_and_private_chats_do_not_wait_for_it(c2_env) -> None:
    tuning = replace(FAST, flood_per_group=(3, 1.0))  # 20 a minute, scaled down

    async def scenario() -> None:
        async with running_c2(c2_env, tuning=tuning, allowed_chats=[GROUP_CHAT]) as c2:
            bot = c2.app.bot
            mark = len(c2.api.calls)
            await asyncio.gather(
                *(bot.send_message(chat_id=GROUP_CHAT, text=f"g{i}") for i in range(7)),
                *(bot.send_message(chat_id=ADMIN, text=f"p{i}") for i in range(5)),
            )
            calls = [c for c in c2.api.calls[mark:] if c.method == "sendMessage"]
            group = sorted(c.at for c in calls if int(c.params["chat_id"]) == GROUP_CHAT)
            private = [c.at for c in calls if int(c.params["chat_id"]) == ADMIN]
            assert len(group) == 7 and len(private) == 5
            assert _most_in_any(group, 1.0) <= 3
            assert max(private) < group[3]  # the group's wait holds nobody else back

    run(scenario())
