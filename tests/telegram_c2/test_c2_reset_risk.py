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
