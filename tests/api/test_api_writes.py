"""Pause and resume over HTTP: the C2's implementation (``core/operator/state.py``), the
same registry status and Redis state, one ``trading.bot_commands`` row per command."""

from __future__ import annotations

import socket
from dataclasses import replace

from api_harness import add_bot, audit_rows, check_reply, make_token, running_api

from api.routes import PREFIX
from core.config import Role
from core.operator.control import Control
from core.operator.db import Database
from core.operator.redis_pool import RedisPool


def _status(database, bot_id: str) -> str:
    with database.connect(Role.OWNER, direct=True) as conn:
        return conn.execute(
            "SELECT status FROM trading.bots WHERE bot_id = %s", (bot_id,)
        ).fetchone()[0]


def test_admin_pause_and_resume_set_registry_redis_and_one_audit_row_each(
    database, services, redis
) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=3)
    add_bot(database, "beta_two", "b2")  # its keys live in the shared DB
    token = make_token(database, "ops-laptop", "admin")
    with database.connect(Role.OWNER, direct=True) as conn:
        token_id = conn.execute(
            "SELECT id FROM trading.api_tokens WHERE name = 'ops-laptop'"
        ).fetchone()[0]
    with running_api(database) as api:
        paused = check_reply(api.post(f"{PREFIX}/bots/alpha_one/pause", token), "StateChange")
        assert paused == {"bot_id": "alpha_one", "state": "paused", "changed": ["alpha_one"]}
        assert _status(database, "alpha_one") == "paused"
        assert services.redis(3).get("bot:alpha_one:state") == "paused"

        # By bot code, like the C2 accepts; the bot in the shared Redis DB.
        shared = check_reply(api.post(f"{PREFIX}/bots/b2/pause", token), "StateChange")
        assert shared["bot_id"] == "beta_two"
        assert services.redis(0).get("bot:beta_two:state") == "paused"

        resumed = check_reply(api.post(f"{PREFIX}/bots/alpha_one/resume", token), "StateChange")
        assert resumed["state"] == "running"
        assert _status(database, "alpha_one") == "active"
        assert services.redis(3).get("bot:alpha_one:state") == "running"
        assert (
            check_reply(api.get(f"{PREFIX}/bots/alpha_one", token), "BotOne")["bot"]["state"]
            == "running"
        )

        missing = api.post(f"{PREFIX}/bots/nobody/pause", token)
        assert missing.status_code == 404
        check_reply(missing, "Error")
        assert api.get(f"{PREFIX}/bots/alpha_one/pause", token).status_code == 405

    rows = audit_rows(database)
    assert [(r["command"], r["outcome"], r["bot_id"], r["args"], r["detail"]) for r in rows] == [
        ("pause", "accepted", "alpha_one", ["alpha_one"], "paused: alpha_one"),
        ("pause", "accepted", "beta_two", ["b2"], "paused: beta_two"),
        ("resume", "accepted", "alpha_one", ["alpha_one"], "running: alpha_one"),
        ("pause", "refused", None, ["nobody"], "unknown bot"),
    ]
    assert {(r["channel"], r["user_id"], r["username"]) for r in rows} == {
        ("api", token_id, "ops-laptop")
    }


def test_a_redis_failure_rolls_back_the_registry_and_is_audited_as_failed(
    database, services, redis
) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=3)
    token = make_token(database, "ops", "admin")
    with running_api(database) as api:
        # Bots' Redis unreachable (a real refused connection on a port nobody listens
        # on): the state change and its accepted row roll back together, and the
        # failure is recorded on its own.
        dead = replace(
            database.settings,
            redis=database.settings.redis.model_copy(update={"port": _closed_port()}),
        )
        api.ctx.redis = RedisPool(dead)
        api.ctx.control = Control(api.ctx.redis)
        r = api.post(f"{PREFIX}/bots/alpha_one/pause", token)
        assert r.status_code == 500
        assert "see the API's log" in check_reply(r, "Error")["error"]["message"]
    assert _status(database, "alpha_one") == "active"
    assert services.redis(3).get("bot:alpha_one:state") is None
    assert [(row["command"], row["outcome"]) for row in audit_rows(database)] == [
        ("pause", "failed")
    ]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_healthz_is_503_when_the_database_is_unreachable_and_says_no_more(database, redis) -> None:
    port = _closed_port()
    with running_api(database) as api:
        dead = replace(
            database.settings,
            pgbouncer=database.settings.pgbouncer.model_copy(update={"port": port}),
        )
        api.ctx.reader = Database(dead, role=Role.READONLY)
        r = api.get("/healthz")
    assert r.status_code == 503
    body = check_reply(r, "Health")
    assert body["status"] == "failing" and body["checks"]["redis"]["ok"] is True
    assert body["checks"]["db"]["ok"] is False
    assert "127.0.0.1" not in r.text and str(port) not in r.text  # the reason is logged only
