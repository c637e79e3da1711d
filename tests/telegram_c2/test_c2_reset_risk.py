"""/resetrisk BOT: an admin lifts a bot's risk halt; audited with its effect."""

from __future__ import annotations

from c2_harness import ADMIN, VIEWER, add_bot, audit_rows, run, running_c2, wait_audit


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
