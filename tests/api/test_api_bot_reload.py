"""``PATCH /bots/{id}`` tells a running bot to reload, as ``alpha bots update`` does, and
returns its answer; audited ``reload`` rows with channel ``api``.

The first test's bot is a stand-in on the real Redis: it reads the ``reload`` entry from
the bot's command stream and pushes a chosen answer on the reply key, as
bots/runtime/host.py does, so every answer and the timeout can be driven. The second
runs a real bot host on the paper exchange (tests/bots/e2e/harness.py) end to end.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from api_harness import audit_rows, check_reply, make_token, running_api

from api.routes import PREFIX
from tests.database.test_bots_cli import ok, register

DB = 3


@contextmanager
def stand_in_bot(client: Any, bot_id: str, answers: list[str]) -> Iterator[list[dict[str, str]]]:
    """Answers each ``reload`` read from ``commands:{bot_id}`` with the next of
    ``answers`` (none left: no answer, as a bot stuck in a candle)."""
    seen: list[dict[str, str]] = []
    stop = threading.Event()
    client.set(f"bot:{bot_id}:heartbeat", "alive", ex=120)

    def serve() -> None:
        last = "$"
        while not stop.is_set():
            for _, entries in client.xread({f"commands:{bot_id}": last}, block=100) or []:
                for entry_id, fields in entries:
                    last = entry_id
                    seen.append(fields)
                    if fields.get("command") == "reload" and answers:
                        key = f"bot:{bot_id}:reply:{fields['id']}"
                        client.rpush(key, answers.pop(0))
                        client.expire(key, 60)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(5)


def _reloads(database: Any) -> list[tuple[str, str, str]]:
    return [
        (r["outcome"], r["username"], r["detail"])
        for r in audit_rows(database)
        if r["command"] == "reload"
    ]


def test_a_running_bot_is_told_to_reload_and_its_answer_is_returned(
    database, services, redis
) -> None:
    ok(register(database, "mom_001", "mo1", DB))
    admin = make_token(database, "ops", "admin")
    client = services.redis(DB)
    path = f"{PREFIX}/bots/mom_001"
    with running_api(database) as api:
        # No heartbeat: nothing is sent; the bot reads its registration when it starts.
        idle = check_reply(api.request("PATCH", path, admin, json={"name": "Idle"}), "BotUpdated")
        assert (idle["reload"], idle["reload_detail"], idle["restart_needed"]) == (
            "not running",
            None,
            False,
        )
        assert client.exists("commands:mom_001") == 0
        assert _reloads(database) == []

        answers = ["applied: symbols BTCUSDT,SOLUSDT", "needs restart: mode paper -> demo"]
        with stand_in_bot(client, "mom_001", answers) as seen:
            applied = check_reply(
                api.request("PATCH", path, admin, json={"symbols": ["BTCUSDT", "SOLUSDT"]}),
                "BotUpdated",
            )
            restart = check_reply(
                api.request("PATCH", path, admin, json={"mode": "demo"}), "BotUpdated"
            )
            # Nothing changed: nothing is sent.
            same = check_reply(
                api.request("PATCH", path, admin, json={"mode": "demo"}), "BotUpdated"
            )
            # No answer left: the wait ends after ?wait= seconds.
            silent = api.request("PATCH", f"{path}?wait=1", admin, json={"name": "Quiet"})
            silent_body = check_reply(silent, "BotUpdated")
            bad_waits = [
                api.request("PATCH", f"{path}?wait={w}", admin, json={"name": "X"})
                for w in ("0", "31", "soon")
            ]
    assert (applied["reload"], applied["reload_detail"], applied["restart_needed"]) == (
        "applied",
        "applied: symbols BTCUSDT,SOLUSDT",
        False,
    )
    assert (restart["reload"], restart["restart_needed"]) == ("needs restart", True)
    assert (same["changed"], same["reload"], same["reload_detail"]) == ([], None, None)
    assert silent_body["reload"] == "no answer"
    assert silent_body["reload_detail"] == "no answer within 1s"
    assert silent_body["restart_needed"] is False  # it takes it when it reads the command
    for bad in bad_waits:
        assert bad.status_code == 400
        assert check_reply(bad, "Error")["error"]["message"].startswith("wait: ")
    reloads = [f for f in seen if f["command"] == "reload"]
    assert len(reloads) == 3
    assert all(f["requested_by"].startswith("api:") and f["requested_by"].endswith(":ops")
               for f in reloads)  # fmt: skip
    ids = [f["id"] for f in reloads]
    assert _reloads(database) == [
        ("pending", "ops", f"command {ids[0]}"),
        ("accepted", "ops", f"command {ids[0]}: applied: symbols BTCUSDT,SOLUSDT"),
        ("pending", "ops", f"command {ids[1]}"),
        ("refused", "ops", f"command {ids[1]}: needs restart: mode paper -> demo"),
        ("pending", "ops", f"command {ids[2]}"),
        ("failed", "ops", f"command {ids[2]}: no answer within 1s"),
    ]


def test_a_real_running_bot_applies_the_update_sent_over_http(database, redis, tmp_path) -> None:
    """The whole exchange with a real bot host (tests/bots/e2e/harness.py): the API's
    reload reaches it, it applies what is live-safe and answers, and refuses a mode
    change live, as with ``alpha bots update``."""
    from core import redis_keys
    from core.ids import BotId
    from tests.bots.e2e.harness import stack
    from tests.bots.e2e.test_e2e_loss_limits import _bars
    from tests.bots.e2e.test_e2e_restart import CONFIG

    bot_id = "ss_http"
    history, live = _bars()
    admin = make_token(database, "ops", "admin")
    path = f"{PREFIX}/bots/{bot_id}"
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(bot_id, "sh1", "shortseller", CONFIG | {"cooldown_minutes": 0}, redis_db=1)
        bot = s.start_bot(bot_id)
        with running_api(database) as api:
            margin = check_reply(
                api.request("PATCH", path, admin, json={"config": {"margin_pct": "3.5"}}),
                "BotUpdated",
            )
            mode = check_reply(
                api.request("PATCH", path, admin, json={"mode": "demo"}), "BotUpdated"
            )
            assert str(bot.host.strategy.config.margin_pct) == "3.5"
            assert bot.host.reg.mode == "paper" and bot.thread.is_alive()
            bot_redis = s.bot_redis(bot_id)
    assert (margin["reload"], margin["reload_detail"], margin["restart_needed"]) == (
        "applied",
        "applied: config.margin_pct",
        False,
    )
    assert (mode["reload"], mode["restart_needed"]) == ("needs restart", True)
    assert mode["reload_detail"].startswith("needs restart: mode")
    # Stopped: its heartbeat lapses (deleted here rather than waited for).
    bot_redis.delete(redis_keys.heartbeat(BotId(bot_id)))
    with running_api(database) as api:
        idle = api.request("PATCH", path, admin, json={"config": {"margin_pct": "4"}})
        assert check_reply(idle, "BotUpdated")["reload"] == "not running"
    assert [o for o, _, _ in _reloads(database)] == ["pending", "accepted", "pending", "refused"]
