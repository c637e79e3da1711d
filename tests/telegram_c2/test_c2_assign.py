"""/assign EXEC_ID BOT REASON: an admin gives an external fill to a bot, after confirmation.

The C2 never writes the ledger: a real listener (writer thread and claim consumer) takes
the request from Redis, applies or refuses it, and the C2 shows and audits its answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from c2_harness import ADMIN, add_bot, add_fill, audit_rows, run, running_c2, wait_audit

from core.config import Role
from core.redis_client import infra_client
from websocket_listener.claim_requests import ClaimConsumer
from websocket_listener.service import Listener


def _button(call: Any, label: str) -> str:
    rows = call.params["reply_markup"]["inline_keyboard"]
    return next(b["callback_data"] for row in rows for b in row if b["text"] == label)


def test_assign_moves_the_fill_once_and_audits_the_listeners_answer(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    add_bot(c2_env, "alpha_two", "a2", 4)
    add_fill(
        c2_env,
        "external",
        "manual-1",
        "Buy",
        "100",
        "1",
        "0",
        datetime.now(UTC) - timedelta(hours=1),
    )
    listener = Listener(c2_env.settings, application_name="test-c2-assign")
    listener.start_writer()
    consumer = ClaimConsumer(infra_client(c2_env.settings), listener.assign)
    consumer.start()

    async def confirm(c2: Any, command: str) -> str:
        ask = await c2.send(ADMIN, command)
        msg_id = next(k for k, v in reversed(c2.api.sent.items()) if v.get("reply_markup"))
        mark = len(c2.api.calls)
        c2.api.press(ADMIN, msg_id, _button(ask, "Confirm"))
        edit = await c2.api.wait_for(
            lambda c: c.method == "editMessageText", after=mark, timeout=40
        )
        return str(edit.params["text"])

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            usage = await c2.send(ADMIN, "/assign manual-1 alpha_one")
            assert "Usage: /assign EXEC_ID BOT REASON" in usage.params["text"]
            first = await confirm(c2, "/assign manual-1 alpha_one my manual entry")
            assert first == "Fill manual-1 (main BTCUSDT) assigned to alpha_one."
            second = await confirm(c2, "/assign manual-1 alpha_two mine too")
            assert second == (
                "Refused by the listener: fill manual-1 was already assigned to alpha_one"
                f" by telegram:{ADMIN}."
            )
            await wait_audit(c2_env, 5)

    try:
        run(scenario(), timeout=120)
    finally:
        consumer.stop()
        listener.pipeline.stop()
    rows = [(r["command"], r["outcome"]) for r in audit_rows(c2_env)]
    assert rows == [
        ("assign", "refused"),
        ("assign", "pending"),
        ("assign", "confirmed"),
        ("assign", "pending"),
        ("assign", "refused"),
    ]
    with c2_env.connect(Role.READONLY) as conn:
        owner = conn.execute("SELECT bot_id FROM trading.fills WHERE exec_id = 'manual-1'")
        assert owner.fetchone() == ("alpha_one",)
        claim = conn.execute("SELECT requested_by, reason FROM trading.fill_claims").fetchall()
    assert claim == [(f"telegram:{ADMIN}", "my manual entry")]
