"""Access control and state commands, through the real Application and a fake Bot API."""

from __future__ import annotations

import asyncio

from c2_harness import (
    ADMIN,
    GROUP_CHAT,
    STRANGER,
    VIEWER,
    add_bot,
    audit_rows,
    run,
    running_c2,
    wait_audit,
)

from core.config import Role
from telegram_c2.access import NEUTRAL_REFUSAL


def _status(env, bot_id: str) -> str:
    with env.connect(Role.OWNER) as conn:
        return conn.execute(
            "SELECT status FROM trading.bots WHERE bot_id = %s", (bot_id,)
        ).fetchone()[0]


def test_admin_pause_sets_redis_state_registry_and_audit(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    add_bot(c2_env, "beta_two", "b2", 4)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            reply = await c2.send(ADMIN, "/pause alpha_one", username="boss")
            assert "alpha_one" in reply.params["text"]
            rows = await wait_audit(c2_env, 1)
            assert rows[-1] | {"detail": None} == {
                "user_id": ADMIN, "chat_id": ADMIN, "command": "pause", "args": ["alpha_one"],
                "bot_id": "alpha_one", "outcome": "accepted", "detail": None,
            }  # fmt: skip
            # By code, case-insensitively, and "all".
            await c2.send(ADMIN, "/resume A1")
            await wait_audit(c2_env, 2)
            assert c2_env.redis(3).get("bot:alpha_one:state") == "running"
            await c2.send(ADMIN, "/pause all")
            await wait_audit(c2_env, 3)

    run(scenario())
    assert c2_env.redis(3).get("bot:alpha_one:state") == "paused"
    assert c2_env.redis(4).get("bot:beta_two:state") == "paused"
    # The key lives in the bot's own DB only.
    assert c2_env.redis(4).get("bot:alpha_one:state") is None
    assert _status(c2_env, "alpha_one") == "paused"
    assert _status(c2_env, "beta_two") == "paused"


def test_stranger_pause_changes_nothing_is_refused_neutrally_and_audited(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            reply = await c2.send(STRANGER, "/pause alpha_one")
            assert reply.params["text"] == NEUTRAL_REFUSAL
            # Said once; probing with other commands gets no answer at all.
            c2.api.message(STRANGER, "/bots")
            c2.api.message(STRANGER, "/nosuchcommand")
            await wait_audit(c2_env, 3)
            assert c2.api.texts_to(STRANGER) == [NEUTRAL_REFUSAL]

    run(scenario())
    assert c2_env.redis(3).get("bot:alpha_one:state") is None
    assert _status(c2_env, "alpha_one") == "active"
    rows = audit_rows(c2_env)
    assert [(r["user_id"], r["command"], r["outcome"]) for r in rows] == [
        (STRANGER, "pause", "refused"),
        (STRANGER, "bots", "refused"),
        (STRANGER, "nosuchcommand", "refused"),
    ]
    assert rows[0]["args"] == ["alpha_one"]


def test_viewer_reads_but_cannot_command(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            reply = await c2.send(VIEWER, "/status")
            assert "alpha_one (a1)" in reply.params["text"]
            assert "Listener: no status reported" in reply.params["text"]
            reply = await c2.send(VIEWER, "/pause alpha_one")
            assert "admin" in reply.params["text"]
            reply = await c2.send(VIEWER, "/help")
            assert "/status" in reply.params["text"] and "/pause" not in reply.params["text"]
            await wait_audit(c2_env, 3)

    run(scenario())
    assert c2_env.redis(3).get("bot:alpha_one:state") is None
    assert _status(c2_env, "alpha_one") == "active"
    outcomes = [(r["command"], r["outcome"], r["detail"]) for r in audit_rows(c2_env)]
    assert outcomes == [
        ("status", "accepted", None),
        ("pause", "refused", "viewer"),
        ("help", "accepted", None),
    ]


def test_group_chat_refused_unless_allowed(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    other_group = -100777

    async def scenario() -> None:
        async with running_c2(c2_env, allowed_chats=[GROUP_CHAT]) as c2:
            reply = await c2.send(
                ADMIN, "/pause alpha_one", chat_id=other_group, chat_type="supergroup"
            )
            assert reply.params["text"] == NEUTRAL_REFUSAL
            await wait_audit(c2_env, 1)
            assert c2_env.redis(3).get("bot:alpha_one:state") is None
            # The explicitly allowed group works for the admin …
            reply = await c2.send(ADMIN, "/bots", chat_id=GROUP_CHAT, chat_type="supergroup")
            assert "alpha_one" in reply.params["text"]
            # … and not for a stranger in it.
            reply = await c2.send(STRANGER, "/bots", chat_id=GROUP_CHAT, chat_type="supergroup")
            assert reply.params["text"] == NEUTRAL_REFUSAL
            await wait_audit(c2_env, 3)

    run(scenario())
    rows = audit_rows(c2_env)
    assert [(r["chat_id"], r["outcome"]) for r in rows] == [
        (other_group, "refused"),
        (GROUP_CHAT, "accepted"),
        (GROUP_CHAT, "refused"),
    ]
    assert rows[0]["detail"].startswith("chat not allowed")


def test_unknown_bot_name_lists_valid_ones(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    add_bot(c2_env, "beta_two", "b2", 4)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            reply = await c2.send(ADMIN, "/pause gamma")
            text = reply.params["text"]
            assert "Unknown bot 'gamma'" in text
            assert "alpha_one (a1)" in text and "beta_two (b2)" in text
            assert "external" not in text
            await wait_audit(c2_env, 1)
            await asyncio.sleep(0)

    run(scenario())
    row = audit_rows(c2_env)[0]
    assert (row["command"], row["outcome"]) == ("pause", "refused")
    assert c2_env.redis(3).get("bot:alpha_one:state") is None
