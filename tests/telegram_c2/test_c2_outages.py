"""A command that meets PostgreSQL or Redis away: the user is told which, in one line,
and the log has one warning and the audit row the database could not take."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from typing import Any

from c2_harness import ADMIN, add_bot, audit_rows, run, running_c2, wait_audit
from harness.partition import Partition
from harness.services import settings_without

from core.operator.audit import Auditor
from core.operator.db import Database


def test_a_command_while_the_database_is_away_is_answered_in_one_line(c2_env, caplog) -> None:
    """Before: the user got no answer at all. The command's failure (libpq's message,
    with the database's host, port, role and name) was to be audited as ``refused``; that
    write failed in turn, before the reply, and PTB's error handler logged its
    traceback."""
    add_bot(c2_env, "alpha_one", "a1", 3)
    down = dataclasses.replace(c2_env, database=_Moved(c2_env.database, "database"))
    named = "the database"

    async def scenario() -> str:
        async with running_c2(down) as c2:
            with caplog.at_level(logging.INFO):
                reply = await c2.send(ADMIN, "/status")
        return str(reply.params["text"])

    text = run(scenario())
    assert text == f"/status: {named} is unreachable; try again shortly."
    said = [
        r for r in caplog.records
        if r.name.startswith("telegram_c2") and r.levelno >= logging.WARNING
    ]  # fmt: skip
    assert all(r.exc_info is None for r in said), [r.getMessage() for r in said]
    assert [r.levelname for r in said] == ["WARNING"] * len(said) and said
    assert f"/status failed: {named} unreachable" in said[0].getMessage()
    # The row the database could not take is in the log instead, user and outcome.
    unaudited = [r for r in said if "not audited" in r.getMessage()]
    assert len(unaudited) == 1, [r.getMessage() for r in said]
    assert f"user {ADMIN}" in unaudited[0].getMessage()
    assert "failed" in unaudited[0].getMessage()
    assert audit_rows(c2_env) == []


class _Moved:
    """A test database whose settings point one service at a port nothing listens on
    (chosen once, so a test can make something listen there later)."""

    def __init__(self, database: Any, service: str) -> None:
        self.database = database
        self.settings = settings_without(database.settings, service)


def test_a_c2_started_before_redis_waits_for_it(c2_env, caplog) -> None:
    """Before: the C2's first Redis call (its consumer groups) raised, and the process
    ended with a traceback; its restart policy started it again and again."""
    add_bot(c2_env, "alpha_one", "a1", 3)
    redis = c2_env.settings.redis
    moved = _Moved(c2_env.database, "redis")
    port = moved.settings.redis.port
    forwarder: list[Partition] = []
    threading.Timer(3.0, lambda: forwarder.append(Partition(redis.host, redis.port,
                                                            listen_port=port))).start()  # fmt: skip

    async def scenario() -> str:
        async with running_c2(dataclasses.replace(c2_env, database=moved)) as c2:
            reply = await c2.send(ADMIN, "/status")
        return str(reply.params["text"])

    try:
        with caplog.at_level(logging.INFO, logger="telegram_c2"):
            text = run(scenario())
    finally:
        for f in forwarder:
            f.close()
    assert "alpha_one (a1)" in text, text
    said = [(r.levelname, r.getMessage()) for r in caplog.records
            if r.name == "telegram_c2.app" and "Redis" in r.getMessage()]  # fmt: skip
    assert [level for level, _ in said] == ["WARNING", "INFO"], said
    assert "waiting for it to start" in said[0][1]
    assert said[1][1] == "Redis answers again; starting"


def test_a_c2_stopped_while_waiting_for_redis_ends_at_once(c2_env, caplog) -> None:
    moved = _Moved(c2_env.database, "redis")

    async def scenario() -> tuple[int, float]:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.call_later(1.5, stop.set)  # what SIGTERM does (install_async_signal_handlers)
        began = loop.time()
        async with running_c2(dataclasses.replace(c2_env, database=moved), stop=stop) as c2:
            return c2.api.polls, loop.time() - began

    with caplog.at_level(logging.WARNING, logger="telegram_c2"):
        polls, took = run(scenario())
    assert polls == 0 and took < 3.5, took
    said = [r.getMessage() for r in caplog.records if r.name == "telegram_c2.app"]
    assert said[-1] == "stopped while waiting for Redis", said


def test_a_confirmation_the_database_is_away_for_is_answered(c2_env, caplog) -> None:
    """Before: the confirmed effect failed (its audit row could not begin), its failure
    was to be audited too, that raised, and the user's button press got no answer, the
    message still asking; PTB's error handler logged the traceback."""
    add_bot(c2_env, "alpha_one", "a1", 3)
    away = Database(settings_without(c2_env.settings, "database"))

    async def scenario() -> tuple[str, str]:
        async with running_c2(c2_env) as c2:
            ask = await c2.send(ADMIN, "/flatten Alpha_One")
            await wait_audit(c2_env, 1)  # the pending row, while the database answered
            confirm = next(
                b["callback_data"]
                for row in ask.params["reply_markup"]["inline_keyboard"]
                for b in row
                if b["text"] == "Confirm"
            )
            ask_id = next(k for k, v in c2.api.sent.items() if v.get("reply_markup"))
            c2.c2.db, c2.c2.audit = away, Auditor(away)  # the database goes away
            mark = len(c2.api.calls)
            with caplog.at_level(logging.INFO):
                c2.api.press(ADMIN, ask_id, confirm)
                answer = await c2.api.wait_for(
                    lambda c: c.method == "answerCallbackQuery", after=mark
                )
                edit = await c2.api.wait_for(lambda c: c.method == "editMessageText", after=mark)
        return str(answer.params.get("text")), str(edit.params["text"])

    answer, edit = run(scenario())
    assert answer == "Failed."
    assert edit == "flatten FAILED: the database is unreachable; try again shortly."
    assert c2_env.redis(3).xlen("commands:alpha_one") == 0
    said = [
        r for r in caplog.records
        if r.name.startswith("telegram_c2") and r.levelno >= logging.WARNING
    ]  # fmt: skip
    assert all(r.exc_info is None for r in said), [r.getMessage() for r in said]
    assert any("not audited" in r.getMessage() for r in said), [r.getMessage() for r in said]
    assert [(r["command"], r["outcome"]) for r in audit_rows(c2_env)] == [("flatten", "pending")]


def test_redis_restarting_under_the_alert_pump_is_said_once_and_alerts_resume(
    c2_env, caplog
) -> None:
    """Before: every poll of the alerts stream while Redis was away (every
    ``alert_poll_seconds``) reached PTB's error handler, which logged "update handling
    failed: Error 111 connecting to …" with its traceback, seen in the rehearsal's log when
    Redis restarted. Now the job says once that Redis is away and once that it answers."""
    redis = c2_env.settings.redis
    moved = _Moved(c2_env.database, "redis")
    port = moved.settings.redis.port
    forwarder = [Partition(redis.host, redis.port, listen_port=port)]

    async def scenario() -> str:
        async with running_c2(dataclasses.replace(c2_env, database=moved)) as c2:
            with caplog.at_level(logging.INFO, logger="telegram_c2"):
                forwarder[0].stop()  # Redis stops: connections end, new ones are refused
                await asyncio.sleep(2.0)  # ten polls of the alerts stream
                forwarder.append(Partition(redis.host, redis.port, listen_port=port))
                c2_env.redis(15).xadd("alerts", {"kind": "backup", "text": "backup failed"})
                sent = await c2.api.wait_for(
                    lambda c: c.method == "sendMessage" and "backup failed" in c.params["text"]
                )
                for _ in range(50):  # the run that delivered it says so once it has acked
                    if any("answers again" in r.getMessage() for r in caplog.records):
                        break
                    await asyncio.sleep(0.1)
        return str(sent.params["text"])

    try:
        text = run(scenario())
    finally:
        for f in forwarder:
            f.close()
    assert "backup failed" in text
    said = [r for r in caplog.records if r.name.startswith("telegram_c2")]
    assert all(r.exc_info is None for r in said), [r.getMessage() for r in said if r.exc_info]
    about_redis = [(r.levelname, r.getMessage()) for r in said if "Redis" in r.getMessage()]
    assert about_redis == [
        ("WARNING", "alerts: Redis unreachable (ConnectionError); tried again next run"),
        ("INFO", "Redis answers again; alerts resumed"),
    ], about_redis


def test_a_command_while_redis_is_cut_off_is_answered_within_a_minute(c2_env, caplog) -> None:
    """A partition, not a stop: Redis's packets stop arriving and nothing says so. Before,
    the C2's clients had no read timeout and ``/status`` waited as long as TCP
    retransmits (about 15 minutes on Linux) with no answer to the user."""
    add_bot(c2_env, "alpha_one", "a1", 3)
    redis = c2_env.settings.redis
    moved = _Moved(c2_env.database, "redis")
    cable = Partition(redis.host, redis.port, listen_port=moved.settings.redis.port)

    async def scenario() -> tuple[str, float]:
        async with running_c2(dataclasses.replace(c2_env, database=moved)) as c2:
            first = await c2.send(ADMIN, "/status")  # connections open, through the cable
            assert "alpha_one (a1)" in str(first.params["text"])
            cable.cut()
            loop = asyncio.get_running_loop()
            began = loop.time()
            with caplog.at_level(logging.WARNING, logger="telegram_c2"):
                mark = len(c2.api.calls)
                c2.api.message(ADMIN, "/status")
                reply = await c2.api.reply_to(ADMIN, after=mark, timeout=90)
            return str(reply.params["text"]), loop.time() - began

    try:
        text, took = run(scenario(), timeout=150)
    finally:
        cable.close()
    assert text == "/status: Redis is unreachable; try again shortly.", text
    assert took < 60, took


def test_alerts_flow_again_after_redis_lost_its_data(c2_env, caplog) -> None:
    """Redis came back without its data (a lost volume, a failover to a replica behind,
    a flush): the alerts stream and the C2's consumer group were gone. Before, every
    poll failed ``NOGROUP`` (with a traceback, five a second) and no alert reached an
    admin again until the C2 was restarted."""
    infra = c2_env.redis(15)

    async def scenario() -> str:
        async with running_c2(c2_env) as c2:
            infra.xadd("alerts", {"kind": "backup", "text": "first alert"})
            await c2.api.wait_for(
                lambda c: c.method == "sendMessage" and "first alert" in c.params["text"]
            )
            with caplog.at_level(logging.WARNING, logger="telegram_c2"):
                infra.flushdb()
                infra.xadd("alerts", {"kind": "drift", "text": "raised after the loss"})
                sent = await c2.api.wait_for(
                    lambda c: c.method == "sendMessage" and "after the loss" in c.params["text"]
                )
        return str(sent.params["text"])

    assert "raised after the loss" in run(scenario())
    said = [r for r in caplog.records
            if r.name.startswith("telegram_c2") and r.levelno >= logging.WARNING]  # fmt: skip
    assert all(r.exc_info is None for r in said), [r.getMessage() for r in said if r.exc_info]
    assert [r.getMessage() for r in said] == [
        "alerts: consumer group c2 is gone (Redis lost its data?): created again, "
        "delivering what the stream holds now"
    ]
