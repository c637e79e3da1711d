"""Notify-only channels (``telegram_c2/channels.py``): through Apprise's ``json://`` plugin
to a local HTTP receiver, against the real C2 application and real Redis. Every alert
reaches the channel once, besides Telegram; a channel that is down keeps the alert
pending and gets it when it is back; its URL is never logged nor shown; bad
configuration is one line."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass, replace
from typing import Any

import pytest
from c2_harness import ADMIN, FAST, TOKEN, run, running_c2
from fake_bot_api import FakeBotApi
from harness.services import alpha_command
from pydantic import SecretStr
from webhook_receiver import WebhookReceiver

from core.config import ChannelSettings, Settings
from telegram_c2.channels import ChannelPump

ALERTS = "alerts"
#: The secret part of the channel's URL, as a Discord or Slack webhook's token is.
HOOK_TOKEN = "hook-secret-7f3a9c1e5b2d4f60"


@dataclass
class _WithChannels:
    """The C2 test environment with ``NOTIFY_*`` settings (the harness reads ``settings``)."""

    env: Any
    notify: ChannelSettings

    @property
    def settings(self) -> Settings:
        return replace(self.env.settings, notify=self.notify)


def _with(env: Any, url: str, **notify: Any) -> _WithChannels:
    return _WithChannels(env, ChannelSettings(urls=SecretStr(url), **notify))


def _pump(c2: Any) -> ChannelPump:
    pumps = c2.app.bot_data["channels"]
    assert len(pumps) == 1
    return pumps[0]


async def _group(c2: Any, name: str) -> dict[str, Any]:
    groups = await c2.c2.redis.infra.xinfo_groups(ALERTS)
    return next(g for g in groups if g["name"] == name)


async def _until(predicate: Any, what: str, timeout: float = 10) -> None:
    for _ in range(int(timeout / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(what)


def _telegram_texts(c2: Any) -> list[str]:
    return [
        str(c.params["text"])
        for c in c2.api.calls_to("sendMessage")
        if int(c.params["chat_id"]) == ADMIN
    ]


def test_an_alert_reaches_the_channel_once_and_telegram_too(c2_env) -> None:
    infra = c2_env.redis(15)

    async def scenario() -> None:
        with WebhookReceiver() as hook:
            async with running_c2(_with(c2_env, hook.url(HOOK_TOKEN))) as c2:
                pump = _pump(c2)
                drift = {"kind": "drift", "account": "main", "symbol": "BTCUSDT",
                         "text": "BTCUSDT: exchange 1, bots 0", "severity": "critical"}  # fmt: skip
                entry_id = infra.xadd(ALERTS, drift)
                assert await hook.wait_for(1) == ["🚨 drift: BTCUSDT: exchange 1, bots 0"]
                await asyncio.sleep(1)  # five more polls of each pump: nothing more is sent
                assert hook.messages() == ["🚨 drift: BTCUSDT: exchange 1, bots 0"]
                assert hook.posts[0]["title"] == "Alpha: drift"
                assert hook.posts[0]["type"] == "failure"  # Apprise's type for critical
                assert hook.paths == [f"/hook/{HOOK_TOKEN}"]
                assert _telegram_texts(c2) == ["🚨 drift: BTCUSDT: exchange 1, bots 0"]
                # Each consumer group delivered it and acknowledged it: nothing pending.
                for name in ("c2", pump.channel.group):
                    group = await _group(c2, name)
                    assert group["pending"] == 0
                    assert group["last-delivered-id"] == entry_id

    run(scenario())


def test_a_channel_that_is_down_keeps_the_alert_pending_until_it_is_back(
    c2_env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the most talkative setting must still be clean
    infra = c2_env.redis(15)

    async def scenario() -> None:
        with WebhookReceiver() as hook:
            async with running_c2(_with(c2_env, hook.url(HOOK_TOKEN))) as c2:
                pump = _pump(c2)
                hook.go_down()
                infra.xadd(ALERTS, {"kind": "backup", "text": "backup failed: disk full"})

                async def refused(n: int) -> bool:
                    return hook.refused >= n

                await _until(lambda: refused(1), "the channel was never tried")
                await asyncio.sleep(1)  # five polls, all inside the backoff
                assert hook.refused == 1
                assert (await _group(c2, pump.channel.group))["pending"] == 1
                # Telegram is not held back by the other channel.
                assert _telegram_texts(c2) == ["⚠️ backup: backup failed: disk full"]
                c2.clock.advance(FAST.alert_retry_first.total_seconds())
                await _until(lambda: refused(2), "not retried after the backoff")
                hook.come_back()
                c2.clock.advance(FAST.alert_retry_first.total_seconds())
                await asyncio.sleep(1)
                assert hook.messages() == []  # the second wait is twice as long
                c2.clock.advance(FAST.alert_retry_first.total_seconds())
                assert await hook.wait_for(1) == ["⚠️ backup: backup failed: disk full"]

                async def acknowledged() -> bool:
                    return (await _group(c2, pump.channel.group))["pending"] == 0

                await _until(acknowledged, "delivered but never acknowledged")
                await asyncio.sleep(0.5)
                assert len(hook.messages()) == 1
        assert "channel #1 json: not delivered" in caplog.text
        assert HOOK_TOKEN not in caplog.text

    run(scenario())


def test_severity_kinds_repeats_and_the_per_minute_limit(c2_env) -> None:
    infra = c2_env.redis(15)
    by_hand = replace(FAST, alert_poll_seconds=3600)  # the pumps are polled by the test

    async def scenario() -> None:
        with WebhookReceiver() as hook:
            env = _with(
                c2_env, hook.url(HOOK_TOKEN), min_severity="warning", kinds=["alerts"], per_minute=1
            )
            async with running_c2(env, tuning=by_hand) as c2:
                pump = _pump(c2)
                info = {"kind": "k", "key": "i0", "text": "an info", "severity": "info"}
                infra.xadd(ALERTS, info)  # below the channel's minimum severity
                trade = {"kind": "trade_entry", "bot_id": "ss1", "text": "ss1: long 0.1 BTCUSDT",
                         "severity": "warning"}  # fmt: skip
                infra.xadd(ALERTS, trade)  # a trade notification: not a kind this channel takes
                infra.xadd(ALERTS, {"kind": "k", "key": "w0", "text": "warning 0"})
                assert await pump.poll_once() == 3
                assert hook.messages() == ["⚠️ k: warning 0"]
                for n in (1, 2):
                    infra.xadd(ALERTS, {"kind": "k", "key": f"w{n}", "text": f"warning {n}"})
                assert await pump.poll_once() == 0  # the minute's one message is used
                assert (await _group(c2, pump.channel.group))["pending"] == 2
                c2.clock.advance(61)
                assert await pump.poll_once() == 2  # both in one message
                assert hook.messages()[-1] == "⚠️ k: warning 1\n⚠️ k: warning 2"
                assert hook.posts[-1]["title"] == "Alpha: 2 alerts"
                # A repeat of a delivered incident within the window: acknowledged, unsent …
                infra.xadd(ALERTS, {"kind": "k", "key": "w1", "text": "warning 1"})
                c2.clock.advance(61)
                assert await pump.poll_once() == 1
                assert len(hook.messages()) == 2
                # … and counted in the incident's next message, after the window.
                c2.clock.advance(FAST.alert_dedup_window.total_seconds())
                infra.xadd(ALERTS, {"kind": "k", "key": "w1", "text": "warning 1"})
                assert await pump.poll_once() == 1
                assert hook.messages()[-1] == "⚠️ k: warning 1 (1 repeat(s) suppressed)"

    run(scenario())


def test_a_critical_alert_is_not_held_by_the_per_minute_limit_but_counts_in_it(c2_env) -> None:
    infra = c2_env.redis(15)
    by_hand = replace(FAST, alert_poll_seconds=3600)  # the pumps are polled by the test

    async def scenario() -> None:
        with WebhookReceiver() as hook:
            async with running_c2(_with(c2_env, hook.url(HOOK_TOKEN), per_minute=2),
                                  tuning=by_hand) as c2:  # fmt: skip
                pump = _pump(c2)
                infra.xadd(ALERTS, {"kind": "k", "key": "w0", "text": "warning 0"})
                assert await pump.poll_once() == 1
                crit = {"kind": "drift", "key": "c1", "text": "drift 1", "severity": "critical"}
                infra.xadd(ALERTS, crit)
                assert await pump.poll_once() == 1  # the minute's second message
                infra.xadd(ALERTS, {"kind": "k", "key": "w1", "text": "warning 1"})
                infra.xadd(ALERTS, crit | {"key": "c2", "text": "drift 2"})
                # The minute is used: the warning waits, the critical alert goes now, alone.
                assert await pump.poll_once() == 1
                assert hook.messages()[-1] == "🚨 drift: drift 2"
                assert hook.posts[-1]["type"] == "failure"
                assert (await _group(c2, pump.channel.group))["pending"] == 1
                # It was counted: 3 messages this minute, so the warning still waits …
                c2.clock.advance(30)
                assert await pump.poll_once() == 0
                # … until the minute of the first two has passed.
                c2.clock.advance(31)
                assert await pump.poll_once() == 1
                assert hook.messages()[-1] == "⚠️ k: warning 1"
                assert len(hook.messages()) == 4

    run(scenario())


def _one_line_error(result: Any, variable: str) -> str:
    assert result.returncode == 78, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("alpha: error: ") and variable in lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


def test_config_show_masks_the_urls(c2_env, tmp_path) -> None:
    url = f"json://127.0.0.1:9/hook/{HOOK_TOKEN}"
    result = c2_env.database.alpha("config", "show", env={"NOTIFY_URLS": url})
    assert result.returncode == 0, result.stderr
    assert "NOTIFY_URLS = **********" in result.stdout
    assert HOOK_TOKEN not in result.stdout + result.stderr
    secret = tmp_path / "urls"
    secret.write_text(f"{url}\n")
    result = c2_env.database.alpha(
        "config", "show", "--json", env={"NOTIFY_URLS_FILE": str(secret)}
    )
    assert result.returncode == 0, result.stderr
    assert '"NOTIFY_URLS": "**********"' in result.stdout
    assert HOOK_TOKEN not in result.stdout + result.stderr


def test_bad_notify_configuration_is_one_line(c2_env) -> None:
    c2 = {"C2_TELEGRAM_BOT_TOKEN": TOKEN, "C2_TELEGRAM_ADMIN_IDS": str(ADMIN)}
    # A scheme Apprise does not know: named by position and scheme, never the URL.
    bad = f"json://127.0.0.1:9/hook/ok nosuchservice://{HOOK_TOKEN}"
    result = c2_env.database.alpha("run", "c2", env={**c2, "NOTIFY_URLS": bad}, timeout=60)
    line = _one_line_error(result, "NOTIFY_URLS")
    assert "entry 2 (nosuchservice://…)" in line and HOOK_TOKEN not in result.stderr
    result = c2_env.database.alpha("run", "c2", env={**c2, "NOTIFY_URLS": HOOK_TOKEN}, timeout=60)
    line = _one_line_error(result, "NOTIFY_URLS")
    assert "no scheme://" in line and HOOK_TOKEN not in result.stderr
    for variable, value in (("NOTIFY_MIN_SEVERITY", "loud"), ("NOTIFY_KINDS", "alerts,fills")):
        result = c2_env.database.alpha("config", "show", env={variable: value})
        _one_line_error(result, variable)
    both = {"NOTIFY_URLS": "json://x/y", "NOTIFY_URLS_FILE": "/nonexistent"}
    _one_line_error(c2_env.database.alpha("config", "show", env=both), "NOTIFY_URLS")


def test_a_burst_of_trade_notifications_is_a_few_messages_each_entry_once(c2_env) -> None:
    infra = c2_env.redis(15)
    by_hand = replace(FAST, alert_poll_seconds=3600)

    async def scenario() -> None:
        with WebhookReceiver() as hook:
            async with running_c2(_with(c2_env, hook.url(HOOK_TOKEN)), tuning=by_hand) as c2:
                pump = _pump(c2)
                for n in range(200):  # a market order filled in 200 executions
                    text = f"ss1: fill {n:03d} long 0.001 BTCUSDT"
                    key = f"trade_entry:ss1:{n}"  # one per event, as the bots' notifier
                    infra.xadd(ALERTS, {"kind": "trade_entry", "key": key, "bot_id": "ss1",
                                        "severity": "info", "text": text})  # fmt: skip
                acked = 0
                for _ in range(30):
                    acked += await pump.poll_once()
                    if acked == 200:
                        break
                assert acked == 200
                messages = hook.messages()
                assert len(messages) == 6, len(messages)  # 38 lines of 49 characters each
                assert all(len(m) <= 1900 for m in messages)
                lines = [line for m in messages for line in m.splitlines()]
                assert lines == [f"ℹ️ trade_entry: ss1: fill {n:03d} long 0.001 BTCUSDT"
                                 for n in range(200)]  # fmt: skip
                assert (await _group(c2, pump.channel.group))["pending"] == 0

    run(scenario())


def test_a_channel_that_is_down_does_not_hold_back_another(c2_env) -> None:
    infra = c2_env.redis(15)

    async def scenario() -> None:
        with WebhookReceiver() as up, WebhookReceiver() as down:
            down.go_down()
            urls = f"{down.url(HOOK_TOKEN)}, {up.url('other-token')}"
            async with running_c2(_with(c2_env, urls)) as c2:
                first, second = c2.app.bot_data["channels"]
                assert (first.channel.label, second.channel.label) == ("#1 json", "#2 json")
                assert first.channel.group != second.channel.group
                infra.xadd(ALERTS, {"kind": "drift", "text": "ETHUSDT differs"})
                assert await up.wait_for(1) == ["⚠️ drift: ETHUSDT differs"]
                assert down.refused >= 1 and down.messages() == []
                assert (await _group(c2, first.channel.group))["pending"] == 1

    run(scenario())


def test_an_entry_pending_when_the_c2_stops_is_delivered_after_its_restart(
    c2_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The C2's container is recreated on an upgrade, with a new hostname: what it had
    read but not delivered must still reach the channel."""
    infra = c2_env.redis(15)

    async def scenario() -> None:
        with WebhookReceiver() as hook:
            env = _with(c2_env, hook.url(HOOK_TOKEN))
            hook.go_down()
            monkeypatch.setattr("socket.gethostname", lambda: "c2-container-before")
            async with running_c2(env) as c2:
                infra.xadd(ALERTS, {"kind": "backup", "text": "backup failed"})

                async def refused() -> bool:
                    return hook.refused >= 1

                await _until(refused, "the channel was never tried")
                assert (await _group(c2, _pump(c2).channel.group))["pending"] == 1
            hook.come_back()
            monkeypatch.setattr("socket.gethostname", lambda: "c2-container-after")
            async with running_c2(env) as c2:
                assert await hook.wait_for(1) == ["⚠️ backup: backup failed"]

    run(scenario())


def test_a_live_c2_delivers_and_never_logs_the_url(c2_env) -> None:
    """``alpha run c2`` as a subprocess at DEBUG: the channel gets the alert, and neither
    the URL nor its token is anywhere in the process's output."""
    infra = c2_env.redis(15)

    async def scenario() -> str:
        api = FakeBotApi(TOKEN)
        base = await api.start()
        with WebhookReceiver() as hook:
            env = {
                **c2_env.env(),
                "C2_TELEGRAM_BOT_TOKEN": TOKEN,
                "C2_TELEGRAM_ADMIN_IDS": str(ADMIN),
                "C2_TELEGRAM_API_BASE_URL": base,
                "NOTIFY_URLS": hook.url(HOOK_TOKEN),
                "ALPHA_HTTP_PORT": "0",
                "ALPHA_LOG_LEVEL": "DEBUG",
            }
            proc = await asyncio.create_subprocess_exec(
                *alpha_command(), "run", "c2", env=env, cwd="/",
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            try:
                await api.wait_for(lambda c: c.method == "setMyCommands", timeout=30)
                hook.go_down()  # a failed delivery is logged too
                infra.xadd(
                    ALERTS, {"kind": "backup", "text": "backup failed", "severity": "critical"}
                )

                async def refused() -> bool:
                    return hook.refused >= 1

                await _until(refused, "the channel was never tried", timeout=30)
                hook.come_back()
                # The retry comes after the first backoff (5 s, the production default).
                assert await hook.wait_for(1, timeout=30) == ["🚨 backup: backup failed"]
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                out, err = await asyncio.wait_for(proc.communicate(), 30)
                await api.stop()
        assert proc.returncode == 0, (out + err).decode()
        return (out + err).decode()

    output = run(scenario(), timeout=120)
    assert "notify channels: #1 json" in output
    assert "channel #1 json: not delivered" in output
    assert HOOK_TOKEN not in output and "/hook/" not in output
