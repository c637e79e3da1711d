"""/resetrisk BOT (an admin lifts a bot's risk halt, audited), and /bots naming the open
drift that holds a bot's entries."""

from __future__ import annotations

from c2_harness import ADMIN, VIEWER, add_bot, audit_rows, run, running_c2, wait_audit

from core.config import Role


def test_an_admin_sends_reset_risk_a_viewer_cannot(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    stream = c2_env.redis(3)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            refused = await c2.send(VIEWER, "/resetrisk alpha_one")
            assert "Risk reset" not in refused.params["text"]
            await wait_audit(c2_env, 1)
            assert stream.xlen("commands:alpha_one") == 0
            reply = await c2.send(ADMIN, "/resetrisk Alpha_One")
            assert "Risk reset sent to alpha_one" in reply.params["text"]
            await wait_audit(c2_env, 2)

    run(scenario())
    [(_, fields)] = stream.xrange("commands:alpha_one")
    assert fields["command"] == "reset-risk"
    assert fields["requested_by"] == f"telegram:{ADMIN}"
    rows = audit_rows(c2_env)
    assert [(r["user_id"], r["command"], r["outcome"]) for r in rows] == [
        (VIEWER, "resetrisk", "refused"),
        (ADMIN, "resetrisk", "accepted"),
    ]
    assert rows[1]["bot_id"] == "alpha_one"
    assert rows[1]["detail"] == f"reset-risk sent (command {fields['id']})"


def test_bots_says_which_entries_wait_on_open_drift(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    add_bot(c2_env, "beta_two", "b2", 4)
    with c2_env.connect(Role.OWNER) as conn:
        conn.execute("UPDATE trading.bots SET symbols = '{BTCUSDT,ETHUSDT}'"
                     " WHERE bot_id = 'alpha_one'")  # fmt: skip
        conn.execute("UPDATE trading.bots SET symbols = '{SOLUSDT}' WHERE bot_id = 'beta_two'")
    with c2_env.connect(Role.SYNC) as conn:
        conn.execute(
            "INSERT INTO trading.drift_events (account, symbol, exchange_qty, ledger_qty)"
            " VALUES ('main', 'ETHUSDT', 1, 0), ('other', 'SOLUSDT', 1, 0)"
        )

    async def scenario() -> list[str]:
        async with running_c2(c2_env) as c2:
            reply = await c2.send(ADMIN, "/bots")
            return str(reply.params["text"]).splitlines()

    lines = run(scenario())
    assert any(
        line.startswith("• alpha_one") and line.endswith("entries held: open drift on ETHUSDT")
        for line in lines
    ), lines
    # beta_two's drift is on another account: not its.
    assert any(line.startswith("• beta_two") and "held" not in line for line in lines), lines


def _button(call, label: str) -> str:
    rows = call.params["reply_markup"]["inline_keyboard"]
    return next(b["callback_data"] for row in rows for b in row if b["text"] == label)


def test_ackdrift_lets_a_bot_enter_after_confirmation_until_the_drift_changes(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    with c2_env.connect(Role.OWNER) as conn:
        conn.execute("UPDATE trading.bots SET symbols = '{BTCUSDT,ETHUSDT}'"
                     " WHERE bot_id = 'alpha_one'")  # fmt: skip
    with c2_env.connect(Role.SYNC) as conn:
        conn.execute(
            "INSERT INTO trading.drift_events (account, symbol, exchange_qty, ledger_qty)"
            " VALUES ('main', 'ETHUSDT', 1, 0)"
        )

    async def scenario() -> list[str]:
        texts: list[str] = []
        async with running_c2(c2_env) as c2:
            refused = await c2.send(VIEWER, "/ackdrift alpha_one")
            assert "acknowledged" not in refused.params["text"].lower()
            await wait_audit(c2_env, 1)
            ask = await c2.send(ADMIN, "/ackdrift alpha_one hedge kept by hand")
            assert "main ETHUSDT: exchange 1, bots 0" in ask.params["text"]
            await wait_audit(c2_env, 2)
            held = await c2.send(ADMIN, "/bots")  # nothing acknowledged before the press
            texts.append(str(held.params["text"]))
            msg_id = next(k for k, v in reversed(c2.api.sent.items()) if v.get("reply_markup"))
            mark = len(c2.api.calls)
            c2.api.press(ADMIN, msg_id, _button(ask, "Confirm"))
            edit = await c2.api.wait_for(lambda c: c.method == "editMessageText", after=mark)
            texts.append(str(edit.params["text"]))
            await wait_audit(c2_env, 4)
            texts.append(str((await c2.send(ADMIN, "/bots")).params["text"]))
            texts.append(str((await c2.send(ADMIN, "/drift")).params["text"]))
            again = await c2.send(ADMIN, "/ackdrift main")  # the account: nothing left
            texts.append(str(again.params["text"]))
            with c2_env.connect(Role.SYNC) as conn:  # trade sync finds other quantities
                conn.execute("UPDATE trading.drift_events SET exchange_qty = 2"
                             " WHERE symbol = 'ETHUSDT'")  # fmt: skip
            texts.append(str((await c2.send(ADMIN, "/bots")).params["text"]))
        return texts

    held, done, after, drift, again, changed = run(scenario())
    assert "entries held: open drift on ETHUSDT" in held
    assert done.startswith("Drift acknowledged on alpha_one (account main, BTCUSDT,ETHUSDT)")
    assert "held" not in after
    assert f"acknowledged by telegram:{ADMIN}" in drift
    assert again == "No unacknowledged open drift on account main."
    assert "entries held: open drift on ETHUSDT" in changed  # a new drift holds again
    with c2_env.connect(Role.OWNER) as conn:
        acks = conn.execute(
            "SELECT exchange_qty, ledger_qty, acked_by, reason FROM trading.drift_acks"
        ).fetchall()
    assert acks == [(1, 0, f"telegram:{ADMIN}", "hedge kept by hand")]
    rows = [(r["user_id"], r["command"], r["outcome"]) for r in audit_rows(c2_env)]
    assert rows[:4] == [
        (VIEWER, "ackdrift", "refused"),
        (ADMIN, "ackdrift", "pending"),
        (ADMIN, "bots", "accepted"),
        (ADMIN, "ackdrift", "confirmed"),
    ]
