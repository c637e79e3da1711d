"""/forceexit BOT SYMBOL (confirmed like /flatten: one ``exit`` with its symbol on the bot's
command stream) and /stopentry BOT (Freqtrade's name for /pause)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from c2_harness import ADMIN, VIEWER, add_bot, add_fill, audit_rows, run, running_c2, wait_audit

from core.config import Role


def _button(call, label: str) -> str:
    rows = call.params["reply_markup"]["inline_keyboard"]
    return next(b["callback_data"] for row in rows for b in row if b["text"] == label)


def test_forceexit_puts_one_exit_of_that_symbol_after_confirmation(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    now = datetime.now(UTC)
    add_fill(c2_env, "alpha_one", "e1", "Buy", "100", "2", "0", now - timedelta(seconds=2))
    add_fill(c2_env, "alpha_one", "e2", "Sell", "50", "3", "0", now - timedelta(seconds=1),
             symbol="ETHUSDT")  # fmt: skip
    stream = c2_env.redis(3)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            refused = await c2.send(VIEWER, "/forceexit a1 ETHUSDT")
            assert "admin" in refused.params["text"]
            none = await c2.send(ADMIN, "/forceexit a1 SOLUSDT")
            assert none.params["text"] == (
                "alpha_one holds no position in SOLUSDT (open: BTCUSDT, ETHUSDT)."
            )
            usage = await c2.send(ADMIN, "/forceexit a1")
            assert usage.params["text"] == "Usage: /forceexit BOT SYMBOL"
            ask = await c2.send(ADMIN, "/forceexit Alpha_One ethusdt")
            assert ask.params["text"].startswith(
                "Force exit alpha_one ETHUSDT (SHORT 3 in the ledger) at market?"
            )
            await wait_audit(c2_env, 4)
            assert stream.xlen("commands:alpha_one") == 0  # nothing before the confirmation
            ask_id = next(k for k, v in c2.api.sent.items() if v.get("reply_markup"))
            mark = len(c2.api.calls)
            c2.api.press(ADMIN, ask_id, _button(ask, "Confirm"))
            edit = await c2.api.wait_for(lambda c: c.method == "editMessageText", after=mark)
            assert edit.params["text"].startswith("Exit of ETHUSDT sent to alpha_one (command ")
            await wait_audit(c2_env, 5)

    run(scenario())
    [(_, fields)] = stream.xrange("commands:alpha_one")
    assert fields["command"] == "exit"
    assert fields["symbol"] == "ETHUSDT"
    assert fields["requested_by"] == f"telegram:{ADMIN}"
    rows = audit_rows(c2_env)
    assert [(r["user_id"], r["command"], r["outcome"]) for r in rows] == [
        (VIEWER, "forceexit", "refused"),
        (ADMIN, "forceexit", "refused"),
        (ADMIN, "forceexit", "refused"),
        (ADMIN, "forceexit", "pending"),
        (ADMIN, "forceexit", "confirmed"),
    ]
    assert rows[-1]["bot_id"] == "alpha_one"
    assert fields["id"] in rows[-1]["detail"]


def test_stopentry_is_pause(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            refused = await c2.send(VIEWER, "/stopentry a1")
            assert "admin" in refused.params["text"]
            reply = await c2.send(ADMIN, "/stopentry a1")
            assert reply.params["text"] == "Paused: alpha_one."
            await wait_audit(c2_env, 2)

    run(scenario())
    assert c2_env.redis(3).get("bot:alpha_one:state") == "paused"
    with c2_env.connect(Role.OWNER) as conn:
        [(status,)] = conn.execute(
            "SELECT status FROM trading.bots WHERE bot_id = 'alpha_one'"
        ).fetchall()
    assert status == "paused"
    rows = audit_rows(c2_env)
    assert [(r["command"], r["outcome"], r["detail"]) for r in rows] == [
        ("stopentry", "refused", "viewer"),
        ("stopentry", "accepted", "paused: alpha_one"),
    ]
