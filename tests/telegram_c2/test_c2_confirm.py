"""/flatten and /kill act only after a timely confirmation by the same admin."""

from __future__ import annotations

import dataclasses
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from c2_harness import ADMIN, STRANGER, add_bot, audit_rows, run, running_c2, wait_audit

from core import redis_keys
from core.operator.audit import Auditor
from core.operator.db import Database
from devenv.ports import free_port
from telegram_c2.commands.danger import CONFIRM, EXPIRED_TEXT, sweep_expired


def _button(call, label: str) -> str:
    rows = call.params["reply_markup"]["inline_keyboard"]
    return next(b["callback_data"] for row in rows for b in row if b["text"] == label)


def test_flatten_only_after_confirmation_and_exactly_once(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    stream = c2_env.redis(3)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            ask = await c2.send(ADMIN, "/flatten Alpha_One")
            await wait_audit(c2_env, 1)
            assert stream.xlen("commands:alpha_one") == 0
            data = _button(ask, "Confirm")
            ask_id = next(k for k, v in c2.api.sent.items() if v.get("reply_markup"))
            # A stranger pressing the admin's button does nothing.
            mark = len(c2.api.calls)
            c2.api.press(STRANGER, ask_id, data)
            await c2.api.wait_for(lambda c: c.method == "answerCallbackQuery", after=mark)
            await wait_audit(c2_env, 2)
            assert stream.xlen("commands:alpha_one") == 0
            # The admin confirms: one flatten.
            c2.api.press(ADMIN, ask_id, data)
            edit = await c2.api.wait_for(lambda c: c.method == "editMessageText", after=mark)
            assert "Flatten sent to alpha_one" in edit.params["text"]
            await wait_audit(c2_env, 3)
            # A second press (double tap, replay) finds the token used.
            mark = len(c2.api.calls)
            c2.api.press(ADMIN, ask_id, data)
            answer = await c2.api.wait_for(lambda c: c.method == "answerCallbackQuery", after=mark)
            assert "no longer valid" in answer.params["text"]
            await wait_audit(c2_env, 4)

    run(scenario())
    entries = stream.xrange("commands:alpha_one")
    assert len(entries) == 1
    fields = entries[0][1]
    assert fields["command"] == "flatten"
    assert fields["requested_by"] == f"telegram:{ADMIN}"
    assert fields["id"]
    outcomes = [(r["user_id"], r["command"], r["outcome"]) for r in audit_rows(c2_env)]
    assert outcomes == [
        (ADMIN, "flatten", "pending"),
        (STRANGER, "confirm", "refused"),
        (ADMIN, "flatten", "confirmed"),
        (ADMIN, "confirm", "refused"),
    ]


def test_flatten_confirmed_after_expiry_does_nothing_and_is_audited(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            ask = await c2.send(ADMIN, "/flatten a1")
            await wait_audit(c2_env, 1)
            msg_id = next(k for k, v in c2.api.sent.items() if v.get("reply_markup"))
            c2.clock.advance(59)  # still valid one second before …
            assert c2.c2.confirmations.expired() == []
            c2.clock.advance(1.5)  # … and not after 60 s
            mark = len(c2.api.calls)
            c2.api.press(ADMIN, msg_id, _button(ask, "Confirm"))
            edit = await c2.api.wait_for(lambda c: c.method == "editMessageText", after=mark)
            assert edit.params["text"] == EXPIRED_TEXT
            await wait_audit(c2_env, 2)
            # The sweeper does not audit the same expiry a second time.
            assert c2.c2.confirmations.expired() == []

    run(scenario())
    assert c2_env.redis(3).xlen("commands:alpha_one") == 0
    rows = audit_rows(c2_env)
    assert [(r["command"], r["outcome"], r["bot_id"]) for r in rows] == [
        ("flatten", "pending", "alpha_one"),
        ("flatten", "expired", "alpha_one"),
    ]


async def _a_lapsed_kill(c2: Any, c2_env: Any) -> Any:
    """An admin's ``/kill`` left unconfirmed past its minute; returns what the sweeper
    job is given (PTB's context: only its ``bot`` is read)."""
    await c2.send(ADMIN, "/kill")
    await wait_audit(c2_env, 1)
    c2.clock.advance(61)
    return SimpleNamespace(bot=c2.c2_app_bot)


def test_unanswered_confirmation_expiry_is_swept_and_audited(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            sweeper = await _a_lapsed_kill(c2, c2_env)
            mark = len(c2.api.calls)
            await sweep_expired(c2.c2, sweeper)
            edit = await c2.api.wait_for(lambda c: c.method == "editMessageText", after=mark)
            assert edit.params["text"] == EXPIRED_TEXT
            await sweep_expired(c2.c2, sweeper)

    run(scenario())
    assert [(r["command"], r["outcome"]) for r in audit_rows(c2_env)] == [
        ("kill", "pending"),
        ("kill", "expired"),
    ]
    assert c2_env.redis(15).get("risk:kill") is None
    assert c2_env.redis(3).get("bot:alpha_one:state") is None


@pytest.mark.parametrize("redis_mode", ["standalone", "cluster"])
def test_confirmed_kill_sets_flag_pauses_and_flattens_every_bot(c2_env, redis_mode) -> None:
    """On a Redis Cluster (one node, CROSSSLOT enforced) both bots share DB 0, as does
    the kill flag."""
    dbs = {"alpha_one": 3, "beta_two": 4} if redis_mode == "standalone" else {}
    add_bot(c2_env, "alpha_one", "a1", dbs.get("alpha_one"))
    add_bot(c2_env, "beta_two", "b2", dbs.get("beta_two"))

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            ask = await c2.send(ADMIN, "/kill")
            assert c2_env.redis(c2_env.infra_db).get("risk:kill") is None
            msg_id = next(k for k, v in c2.api.sent.items() if v.get("reply_markup"))
            data = _button(ask, "Confirm")
            assert data.startswith(CONFIRM)
            mark = len(c2.api.calls)
            c2.api.press(ADMIN, msg_id, data)
            edit = await c2.api.wait_for(lambda c: c.method == "editMessageText", after=mark)
            assert "Kill flag set" in edit.params["text"]
            await wait_audit(c2_env, 2)

    run(scenario())
    flag = json.loads(c2_env.redis(c2_env.infra_db).get("risk:kill"))
    assert flag["requested_by"] == f"telegram:{ADMIN}"
    for bot in ("alpha_one", "beta_two"):
        db = redis_keys.bot_db(dbs.get(bot))
        assert c2_env.redis(db).get(f"bot:{bot}:state") == "paused"
        entries = c2_env.redis(db).xrange(f"commands:{bot}")
        assert [e[1]["command"] for e in entries] == ["flatten"]
    assert [r["outcome"] for r in audit_rows(c2_env)] == ["pending", "confirmed"]


def test_unkill_lifts_the_flag_after_confirmation_and_bots_stay_paused(c2_env) -> None:
    """/kill used to be one-way: nothing in the product cleared the flag, so every entry
    stayed refused after /resume until someone deleted a Redis key by hand."""
    add_bot(c2_env, "alpha_one", "a1", 3)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            reply = await c2.send(ADMIN, "/unkill")
            assert "not set" in reply.params["text"]
            for command in ("/kill", "/unkill"):
                ask = await c2.send(ADMIN, command)
                msg_id = next(k for k, v in reversed(c2.api.sent.items()) if v.get("reply_markup"))
                mark = len(c2.api.calls)
                c2.api.press(ADMIN, msg_id, _button(ask, "Confirm"))
                edit = await c2.api.wait_for(lambda c: c.method == "editMessageText", after=mark)
                if command == "/kill":
                    assert c2_env.redis(15).get("risk:kill") is not None
                    assert "set by telegram:" in (await _last_ask(c2, "/unkill")).params["text"]
            assert "Kill switch lifted" in edit.params["text"]
            await wait_audit(c2_env, 7)

    async def _last_ask(c2, command: str):
        ask = await c2.send(ADMIN, command)
        msg_id = next(k for k, v in reversed(c2.api.sent.items()) if v.get("reply_markup"))
        mark = len(c2.api.calls)
        c2.api.press(ADMIN, msg_id, _button(ask, "Cancel"))
        await c2.api.wait_for(lambda c: c.method == "editMessageText", after=mark)
        return ask

    run(scenario())
    assert c2_env.redis(15).get("risk:kill") is None
    assert c2_env.redis(3).get("bot:alpha_one:state") == "paused"
    rows = [(r["command"], r["outcome"]) for r in audit_rows(c2_env)]
    assert rows == [
        ("unkill", "accepted"), ("kill", "pending"), ("kill", "confirmed"),
        ("unkill", "pending"), ("unkill", "cancelled"),
        ("unkill", "pending"), ("unkill", "confirmed"),
    ]  # fmt: skip


def test_an_expiry_the_database_could_not_take_is_recorded_by_the_next_sweep(
    c2_env, caplog
) -> None:
    """Before: the sweep marked the expiry recorded, the audit failed (the job died with a
    traceback), and no later sweep recorded it."""
    add_bot(c2_env, "alpha_one", "a1", 3)
    pgbouncer = c2_env.settings.pgbouncer.model_copy(update={"port": free_port()})
    away = dataclasses.replace(c2_env.settings, pgbouncer=pgbouncer)  # nothing listens

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            sweeper = await _a_lapsed_kill(c2, c2_env)
            kept = c2.c2.audit
            c2.c2.audit = Auditor(Database(away))
            with caplog.at_level(logging.WARNING, logger="telegram_c2.commands.danger"):
                await sweep_expired(c2.c2, sweeper)
            c2.c2.audit = kept
            said = [r for r in caplog.records if r.name == "telegram_c2.commands.danger"]
            assert [(r.levelname, r.exc_info) for r in said] == [("WARNING", None)]
            assert "the database is unreachable" in said[0].getMessage()

            mark = len(c2.api.calls)
            await sweep_expired(c2.c2, sweeper)
            edit = await c2.api.wait_for(lambda c: c.method == "editMessageText", after=mark)
            assert edit.params["text"] == EXPIRED_TEXT

    run(scenario())
    assert [(r["command"], r["outcome"]) for r in audit_rows(c2_env)] == [
        ("kill", "pending"),
        ("kill", "expired"),
    ]
