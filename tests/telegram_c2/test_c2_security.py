"""C2 security: the audit comes before (and with) every effect whatever happens to the
reply, and a chat message is a command only if it is new, fresh, unedited, within the
user's rate, and — for a confirmation — pressed by the same admin in the same chat.

All through the real Application against the fake Bot API, with real PostgreSQL (behind
PgBouncer) and Redis.
"""

from __future__ import annotations

import asyncio

import pytest
from c2_harness import (
    ADMIN,
    ADMIN_2,
    GROUP_CHAT,
    STRANGER,
    VIEWER,
    add_bot,
    audit_rows,
    run,
    running_c2,
    wait_audit,
)

from telegram_c2.access import NEUTRAL_REFUSAL
from telegram_c2.commands import ALL, danger
from telegram_c2.commands.base import Level


def _button(call, label: str) -> str:
    rows = call.params["reply_markup"]["inline_keyboard"]
    return next(b["callback_data"] for row in rows for b in row if b["text"] == label)


def _summary(rows) -> list[tuple]:
    return [(r["user_id"], r["command"], r["outcome"]) for r in rows]


async def _failed(c2, count: int, timeout: float = 10) -> None:
    """Wait until the fake Bot API has refused ``count`` calls."""
    for _ in range(int(timeout / 0.05)):
        if len(c2.api.failed) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} refused Bot API calls, saw {c2.api.failed}")


# --- audit before effect ------------------------------------------------------------


@pytest.mark.parametrize("fault", ["429", "403", "network"])
def test_undeliverable_pause_all_leaves_its_audit_row(c2_env, fault: str) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    add_bot(c2_env, "beta_two", "b2", 4)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            c2.api.fail("sendMessage", fault, chat_id=ADMIN)
            c2.api.message(ADMIN, "/pause all")
            await _failed(c2, 1)
            rows = await wait_audit(c2_env, 1)
            assert _summary(rows) == [(ADMIN, "pause", "accepted")]
            assert rows[0]["detail"] == "paused: alpha_one,beta_two"
            # The C2 is still serving once Telegram takes messages again.
            c2.api.heal()
            reply = await c2.send(ADMIN, "/resume all")
            assert "alpha_one" in reply.params["text"]
            await wait_audit(c2_env, 2)

    run(scenario())
    assert c2_env.redis(3).get("bot:alpha_one:state") == "running"
    assert _summary(audit_rows(c2_env)) == [
        (ADMIN, "pause", "accepted"),
        (ADMIN, "resume", "accepted"),
    ]


def test_refusals_are_audited_even_when_the_reply_cannot_be_delivered(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    other_group = -100777

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            c2.api.fail("sendMessage", "403")
            c2.api.message(VIEWER, "/pause alpha_one")
            c2.api.message(STRANGER, "/kill")
            c2.api.message(STRANGER, "/nosuchcommand", chat_id=other_group, chat_type="group")
            c2.api.message(ADMIN, "/stop", chat_id=other_group, chat_type="group")
            await wait_audit(c2_env, 4)
            await asyncio.sleep(0.3)  # nothing else follows

    run(scenario())
    rows = audit_rows(c2_env)
    assert sorted((r["user_id"], r["command"], r["outcome"], r["detail"]) for r in rows) == sorted(
        [
            (VIEWER, "pause", "refused", "viewer"),
            (STRANGER, "kill", "refused", "unknown user"),
            (STRANGER, "nosuchcommand", "refused", "unknown user"),
            (ADMIN, "stop", "refused", "chat not allowed (group)"),
        ]
    )
    assert c2_env.redis(3).get("bot:alpha_one:state") is None


def test_every_button_press_is_audited_even_when_its_answer_fails(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            ask = await c2.send(ADMIN, "/flatten a1")
            await wait_audit(c2_env, 1)
            ask_id = next(k for k, v in c2.api.sent.items() if v.get("reply_markup"))
            c2.api.fail("answerCallbackQuery", "400")  # "query is too old"
            c2.api.fail("editMessageText", "network")
            c2.api.press(VIEWER, ask_id, _button(ask, "Confirm"))  # not an admin
            c2.api.press(ADMIN, ask_id, "something:else")  # not one of our buttons
            c2.api.press(ADMIN, ask_id, danger.CANCEL + "no-such-token")  # nothing to cancel
            await wait_audit(c2_env, 4)
            # The real confirmation acts once and is audited although every answer fails.
            c2.api.press(ADMIN, ask_id, _button(ask, "Confirm"))
            await wait_audit(c2_env, 5)
            await asyncio.sleep(0.3)

    run(scenario())
    rows = audit_rows(c2_env)
    assert _summary(rows) == [
        (ADMIN, "flatten", "pending"),
        (VIEWER, "confirm", "refused"),
        (ADMIN, "button", "refused"),
        (ADMIN, "cancel", "refused"),
        (ADMIN, "flatten", "confirmed"),
    ]
    assert rows[1]["detail"] == "viewer"
    assert rows[2]["detail"] == "unknown button"
    assert rows[4]["detail"].startswith("Flatten sent to alpha_one (command ")
    assert [e[1]["command"] for e in c2_env.redis(3).xrange("commands:alpha_one")] == ["flatten"]


# --- what counts as a command -------------------------------------------------------


def test_an_edited_message_does_not_execute(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            await c2.send(ADMIN, "/bots")
            await wait_audit(c2_env, 1)
            original = c2.api.received[-1]["message_id"]
            mark = len(c2.api.calls)
            c2.api.edit(ADMIN, original, "/pause all")
            reply = await c2.api.reply_to(ADMIN, after=mark)
            assert "edited" in reply.params["text"].lower()
            await wait_audit(c2_env, 2)

    run(scenario())
    assert c2_env.redis(3).get("bot:alpha_one:state") is None
    rows = audit_rows(c2_env)
    assert _summary(rows) == [(ADMIN, "bots", "accepted"), (ADMIN, "pause", "refused")]
    assert rows[1]["detail"] == "edited message"


def test_an_old_message_does_not_execute(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)

    async def scenario() -> None:
        async with running_c2(c2_env, telegram_overrides={"max_message_age_seconds": 60}) as c2:
            mark = len(c2.api.calls)
            c2.api.message(ADMIN, "/pause all", age_seconds=2 * 3600)  # held while C2 was down
            reply = await c2.api.reply_to(ADMIN, after=mark)
            assert "not executed" in reply.params["text"].lower()
            await wait_audit(c2_env, 1)
            assert c2_env.redis(3).get("bot:alpha_one:state") is None
            # Within the limit it runs.
            mark = len(c2.api.calls)
            c2.api.message(ADMIN, "/pause all", age_seconds=30)
            await c2.api.reply_to(ADMIN, after=mark)
            await wait_audit(c2_env, 2)

    run(scenario())
    assert c2_env.redis(3).get("bot:alpha_one:state") == "paused"
    rows = audit_rows(c2_env)
    assert _summary(rows) == [(ADMIN, "pause", "refused"), (ADMIN, "pause", "accepted")]
    assert rows[0]["detail"].startswith("message too old (")


def test_commands_are_rate_limited_per_user(c2_env) -> None:
    async def scenario() -> None:
        # The C2's clock is advanced below; messages are dated by the wall clock, so the
        # age limit is set out of the way here (it has its own test).
        overrides = {"commands_per_minute": 3, "max_message_age_seconds": 3600}
        async with running_c2(c2_env, admins=[ADMIN, ADMIN_2],
                              telegram_overrides=overrides) as c2:  # fmt: skip
            for _ in range(3):
                reply = await c2.send(ADMIN, "/bots")
                assert reply.params["text"] == "No bots registered."
            reply = await c2.send(ADMIN, "/bots")
            assert "Too many commands" in reply.params["text"]
            # One warning per window: more of the same get no answer (but an audit row).
            c2.api.message(ADMIN, "/bots")
            await wait_audit(c2_env, 5)
            # Another user has their own allowance.
            reply = await c2.send(ADMIN_2, "/bots")
            assert reply.params["text"] == "No bots registered."
            c2.clock.advance(61)
            reply = await c2.send(ADMIN, "/bots")
            assert reply.params["text"] == "No bots registered."
            await wait_audit(c2_env, 7)

    run(scenario())
    rows = audit_rows(c2_env)
    assert [(r["user_id"], r["outcome"], r["detail"]) for r in rows] == [
        *[(ADMIN, "accepted", None)] * 3,
        (ADMIN, "refused", "rate limited (3 a minute)"),
        (ADMIN, "refused", "rate limited (3 a minute)"),
        (ADMIN_2, "accepted", None),
        (ADMIN, "accepted", None),
    ]


def test_a_confirmation_only_works_in_the_chat_that_asked(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)

    async def scenario() -> None:
        async with running_c2(c2_env, allowed_chats=[GROUP_CHAT]) as c2:
            ask = await c2.send(ADMIN, "/flatten a1")
            data = _button(ask, "Confirm")
            ask_id = next(k for k, v in c2.api.sent.items() if v.get("reply_markup"))
            # A message of ours in the group to carry the replayed button data.
            group_reply = await c2.send(ADMIN, "/bots", chat_id=GROUP_CHAT, chat_type="supergroup")
            group_msg = next(k for k, v in c2.api.sent.items() if v["chat"]["id"] == GROUP_CHAT)
            assert group_reply.params["chat_id"] == GROUP_CHAT
            await wait_audit(c2_env, 2)
            mark = len(c2.api.calls)
            c2.api.press(ADMIN, group_msg, data)
            await c2.api.wait_for(lambda c: c.method == "answerCallbackQuery", after=mark)
            await wait_audit(c2_env, 3)
            assert c2_env.redis(3).xlen("commands:alpha_one") == 0
            # The token still works where it was asked.
            mark = len(c2.api.calls)
            c2.api.press(ADMIN, ask_id, data)
            await c2.api.wait_for(lambda c: c.method == "editMessageText", after=mark)
            await wait_audit(c2_env, 4)

    run(scenario())
    rows = audit_rows(c2_env)
    assert [(r["chat_id"], r["command"], r["outcome"]) for r in rows] == [
        (ADMIN, "flatten", "pending"),
        (GROUP_CHAT, "bots", "accepted"),
        (GROUP_CHAT, "confirm", "refused"),
        (ADMIN, "flatten", "confirmed"),
    ]
    assert rows[2]["detail"] == "pressed in another chat"
    assert c2_env.redis(3).xlen("commands:alpha_one") == 1


def test_each_user_sees_only_the_menu_of_their_role(c2_env) -> None:
    async def scenario() -> None:
        async with running_c2(c2_env, admins=[ADMIN, ADMIN_2], allowed_chats=[GROUP_CHAT]) as c2:
            return list(c2.api.calls)

    calls = run(scenario())
    menus: dict[tuple, set[str]] = {}
    for call in calls:
        if call.method in ("setMyCommands", "deleteMyCommands"):
            scope = call.params.get("scope") or {"type": "default"}
            key = (scope["type"], scope.get("chat_id"), scope.get("user_id"))
            names = {c["command"] for c in call.params.get("commands", [])}
            menus[key] = names
    writes = {c.name for c in ALL if c.level is Level.WRITE}
    everything = {"help", *(c.name for c in ALL)}
    # Nobody else sees any command: the default scope (and the broad ones) are empty.
    for broad in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
        assert menus[(broad, None, None)] == set(), broad
    assert menus[("chat", ADMIN, None)] == everything
    assert menus[("chat", ADMIN_2, None)] == everything
    assert menus[("chat", VIEWER, None)] == everything - writes
    assert menus[("chat_member", GROUP_CHAT, ADMIN)] == everything
    assert menus[("chat_member", GROUP_CHAT, VIEWER)] == everything - writes
    assert ("chat", STRANGER, None) not in menus


def test_an_unknown_user_gets_one_neutral_refusal(c2_env) -> None:
    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            reply = await c2.send(STRANGER, "/start")
            assert reply.params["text"] == NEUTRAL_REFUSAL
            for text in ("/status", "/kill", "/pause all"):
                c2.api.message(STRANGER, text)
            await wait_audit(c2_env, 4)
            await asyncio.sleep(0.3)
            return c2.api.texts_to(STRANGER)

    assert run(scenario()) == [NEUTRAL_REFUSAL]
    rows = audit_rows(c2_env)
    assert [(r["command"], r["outcome"], r["detail"]) for r in rows] == [
        ("start", "refused", "unknown user"),
        ("status", "refused", "unknown user"),
        ("kill", "refused", "unknown user"),
        ("pause", "refused", "unknown user"),
    ]
