"""Stop, flatten, kill and lifting the kill over HTTP: the C2's code and its audit, with
the chat's confirmation step (a 202 with an id bound to the asking token, single use,
expiring), against the real database and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from api_harness import (
    add_bot,
    audit_rows,
    check_reply,
    make_token,
    running_api,
)
from harness.services import settings_without

from api import actions
from api.context import ApiContext
from api.routes import PREFIX
from core import redis_keys
from core.config import Role

INFRA = 15


def _status(database, bot_id: str) -> str:
    with database.connect(Role.OWNER, direct=True) as conn:
        return conn.execute(
            "SELECT status FROM trading.bots WHERE bot_id = %s", (bot_id,)
        ).fetchone()[0]


def _outcomes(database) -> list[tuple[str, str, str | None]]:
    return [(r["command"], r["outcome"], r["bot_id"]) for r in audit_rows(database)]


def test_flatten_acts_only_on_the_asking_tokens_single_confirmation(
    database, services, redis
) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=3)
    admin = make_token(database, "ops", "admin")
    other = make_token(database, "other-admin", "admin")
    viewer = make_token(database, "wall", "viewer")
    stream = services.redis(3)
    with running_api(database) as api:
        asked = api.post(f"{PREFIX}/bots/a1/flatten", admin)
        assert asked.status_code == 202
        body = check_reply(asked, "Confirmation")
        assert body["action"] == "flatten" and body["bot_id"] == "alpha_one"
        assert body["confirm"] == f"{PREFIX}/confirm/{body['confirmation_id']}"
        assert stream.xrange("commands:alpha_one") == []  # nothing happens before confirm

        assert api.post(body["confirm"], viewer).status_code == 403
        stranger = api.post(body["confirm"], other)
        assert stranger.status_code == 403
        check_reply(stranger, "Error")
        assert stream.xrange("commands:alpha_one") == []

        done = api.post(body["confirm"], admin)
        assert done.status_code == 200
        confirmed = check_reply(done, "Confirmed")
        assert confirmed["action"] == "flatten" and confirmed["bot_id"] == "alpha_one"
        entries = stream.xrange("commands:alpha_one")
        assert len(entries) == 1
        fields = entries[0][1]
        assert fields["command"] == "flatten"
        assert fields["requested_by"].startswith("api:") and fields["requested_by"].endswith(":ops")
        assert fields["id"] in confirmed["detail"]

        again = api.post(body["confirm"], admin)  # single use
        assert again.status_code == 404
        assert len(stream.xrange("commands:alpha_one")) == 1

        assert api.post(f"{PREFIX}/bots/nobody/flatten", admin).status_code == 404
        assert api.post(f"{PREFIX}/bots/a1/flatten", viewer).status_code == 403

    assert _outcomes(database) == [
        ("flatten", "pending", "alpha_one"),
        ("confirm", "refused", None),  # the viewer, refused by the role check
        ("confirm", "refused", None),  # another admin's token
        ("flatten", "confirmed", "alpha_one"),
        ("confirm", "refused", None),  # used twice
        ("flatten", "refused", None),  # unknown bot
        ("flatten", "refused", None),  # viewer
    ]
    details = [r["detail"] for r in audit_rows(database)]
    assert details[2] == "not the requesting token"
    assert details[4] == "unknown confirmation id"


def _own_db(redis_mode: str) -> int | None:
    """A DB of its own for ``alpha_one`` — none on a Redis Cluster, which has only DB 0."""
    return None if redis_mode == "cluster" else 3


@pytest.mark.parametrize("redis_mode", ["standalone", "cluster"])
def test_kill_then_lift_through_confirmations(database, services, redis, redis_mode) -> None:
    """On a Redis Cluster too (one node, CROSSSLOT enforced): the confirmation's two keys
    and the states of bots of several slots (api/confirmations.py, core/operator)."""
    add_bot(database, "alpha_one", "a1", redis_db=_own_db(redis_mode))
    add_bot(database, "beta_two", "b2")
    add_bot(database, "gamma_off", "g3", status="stopped")
    admin = make_token(database, "ops", "admin")
    infra = database.redis(database.settings.redis.infra_db)
    with running_api(database) as api:
        not_set = api.post(f"{PREFIX}/kill/lift", admin)
        assert not_set.status_code == 409
        check_reply(not_set, "Error")

        asked = check_reply(api.post(f"{PREFIX}/kill", admin), "Confirmation")
        assert infra.get("risk:kill") is None
        done = check_reply(api.post(asked["confirm"], admin), "Confirmed")
        assert done["detail"].startswith("Kill flag set; 2 bot(s) paused; 3 flatten")
        flag = json.loads(infra.get("risk:kill"))
        assert flag["requested_by"].endswith(":ops")
        assert _status(database, "alpha_one") == "paused"
        assert _status(database, "beta_two") == "paused"
        assert _status(database, "gamma_off") == "stopped"
        own = database.redis(redis_keys.bot_db(_own_db(redis_mode)))
        assert own.get("bot:alpha_one:state") == "paused"
        assert [e[1]["command"] for e in database.redis(0).xrange("commands:beta_two")] == [
            "flatten"
        ]

        lift = api.post(f"{PREFIX}/kill/lift", admin)
        assert lift.status_code == 202
        lifted = check_reply(
            api.post(check_reply(lift, "Confirmation")["confirm"], admin), "Confirmed"
        )
        assert lifted["action"] == "unkill"
        assert infra.get("risk:kill") is None
        assert _status(database, "alpha_one") == "paused"  # lifting resumes nothing

    assert _outcomes(database) == [
        ("unkill", "refused", None),
        ("kill", "pending", None),
        ("kill", "confirmed", None),
        ("unkill", "pending", None),
        ("unkill", "confirmed", None),
    ]


@pytest.mark.parametrize("redis_mode", ["standalone", "cluster"])
def test_a_late_confirmation_does_nothing_and_lapsed_ones_are_swept(
    database, services, redis, redis_mode
) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=_own_db(redis_mode))
    admin = make_token(database, "ops", "admin")
    now = [datetime(2026, 1, 5, 12, 0, tzinfo=UTC)]
    with running_api(database, clock=lambda: now[0], confirm_sweep_seconds=0.1) as api:
        late = check_reply(api.post(f"{PREFIX}/bots/a1/flatten", admin), "Confirmation")
        now[0] += timedelta(seconds=61)
        r = api.post(late["confirm"], admin)
        assert r.status_code == 410
        check_reply(r, "Error")

        lapsed = check_reply(api.post(f"{PREFIX}/kill", admin), "Confirmation")
        now[0] += timedelta(seconds=61)
        deadline = time.monotonic() + 10
        while ("kill", "expired", None) not in _outcomes(database):
            assert time.monotonic() < deadline, "the sweeper never recorded the expiry"
            time.sleep(0.1)
        assert api.post(lapsed["confirm"], admin).status_code == 410
    assert database.redis(redis_keys.bot_db(_own_db(redis_mode))).xrange("commands:alpha_one") == []
    assert database.redis(database.settings.redis.infra_db).get("risk:kill") is None
    assert [(r["command"], r["outcome"], r["detail"]) for r in audit_rows(database)][1:] == [
        ("flatten", "expired", "confirmed after expiry"),
        ("kill", "pending", audit_rows(database)[2]["detail"]),
        ("kill", "expired", "not confirmed in time"),
        ("confirm", "refused", "expired"),
    ]


def test_stop_sets_the_state_like_the_c2_without_confirmation(database, services, redis) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=3)
    admin = make_token(database, "ops", "admin")
    with running_api(database) as api:
        stopped = check_reply(api.post(f"{PREFIX}/bots/a1/stop", admin), "StateChange")
    assert stopped == {"bot_id": "alpha_one", "state": "stopped", "changed": ["alpha_one"]}
    assert _status(database, "alpha_one") == "stopped"
    assert services.redis(3).get("bot:alpha_one:state") == "stopped"
    assert _outcomes(database) == [("stop", "accepted", "alpha_one")]


def test_a_confirmation_survives_a_restart_of_the_api_and_works_once(
    database, services, redis
) -> None:
    """Kept in Redis, not in the process: asked of one API, confirmed on the next."""
    add_bot(database, "alpha_one", "a1", redis_db=3)
    admin = make_token(database, "ops", "admin")
    other = make_token(database, "other-admin", "admin")
    stream = services.redis(3)
    with running_api(database) as first:
        asked = check_reply(first.post(f"{PREFIX}/bots/a1/flatten", admin), "Confirmation")
    assert services.redis(INFRA).ttl(f"api:confirm:{asked['confirmation_id']}") > 3600
    with running_api(database) as second:  # a new process: nothing shared in memory
        assert second.post(asked["confirm"], other).status_code == 403  # still bound
        done = second.post(asked["confirm"], admin)
        assert done.status_code == 200, done.text
        assert check_reply(done, "Confirmed")["bot_id"] == "alpha_one"
        assert second.post(asked["confirm"], admin).status_code == 404  # single use
    with running_api(database) as third:
        assert third.post(asked["confirm"], admin).status_code == 404
    assert [e[1]["command"] for e in stream.xrange("commands:alpha_one")] == ["flatten"]
    assert _outcomes(database) == [
        ("flatten", "pending", "alpha_one"),
        ("confirm", "refused", None),  # another token
        ("flatten", "confirmed", "alpha_one"),
        ("confirm", "refused", None),  # used
        ("confirm", "refused", None),  # used, after another restart
    ]
    assert services.redis(INFRA).zcard("api:confirm:_due") == 0


@pytest.mark.parametrize("redis_mode", ["cluster"])
def test_on_a_cluster_a_kill_reaches_a_bot_left_with_a_db_of_its_own(
    database, services, redis
) -> None:
    """A registry row from before the switch to a cluster (the CLI refuses it now): the
    kill goes through every bot instead of stopping at that one (core/operator/redis_pool.py)."""
    add_bot(database, "alpha_one", "a1")
    add_bot(database, "delta_old", "d4", redis_db=4)
    admin = make_token(database, "ops", "admin")
    with running_api(database) as api:
        asked = check_reply(api.post(f"{PREFIX}/kill", admin), "Confirmation")
        done = check_reply(api.post(asked["confirm"], admin), "Confirmed")
    assert done["detail"].startswith("Kill flag set; 2 bot(s) paused"), done["detail"]
    node = database.redis(0)
    assert node.get("risk:kill") is not None
    assert node.get("bot:alpha_one:state") == node.get("bot:delta_old:state") == "paused"
    assert [e[1]["command"] for e in node.xrange("commands:delta_old")] == ["flatten"]


def test_a_sweep_without_the_database_leaves_the_expiry_for_the_next(
    database, services, redis
) -> None:
    """Before: the sweep took the lapsed confirmation off the due set, failed to audit it,
    and no later round ever recorded its expiry."""
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    async def scenario() -> tuple[int, int]:
        up = ApiContext(database.settings, clock=lambda: now)
        await up.confirmations.create("kill", user_id=7, username="api:7:ops")
        later = lambda: now + timedelta(seconds=61)  # noqa: E731
        down = ApiContext(settings_without(database.settings, "database"), clock=later)
        with pytest.raises(psycopg.OperationalError):
            await actions.sweep_expired(down)
        back = ApiContext(database.settings, clock=later)
        first, second = await actions.sweep_expired(back), await actions.sweep_expired(back)
        for ctx in (up, down, back):
            await ctx.close()
        return first, second

    assert asyncio.run(scenario()) == (1, 0)
    assert [(r["command"], r["outcome"], r["detail"]) for r in audit_rows(database)] == [
        ("kill", "expired", "not confirmed in time")
    ]


def test_the_sweeper_warns_once_while_redis_is_away(database, caplog) -> None:
    """Before: every round logged the ConnectionError's whole traceback at ERROR (seen in
    the rehearsal's Redis restart); an outage is expected and gets one line."""
    ctx = ApiContext(settings_without(database.settings, "redis"), confirm_sweep_seconds=0.05)

    async def sweep_a_while() -> None:
        task = asyncio.create_task(actions.sweep_forever(ctx))
        await asyncio.sleep(0.6)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await ctx.close()

    with caplog.at_level(logging.INFO, logger="api.actions"):
        asyncio.run(sweep_a_while())
    records = [r for r in caplog.records if r.name == "api.actions"]
    assert [(r.levelname, r.exc_info) for r in records] == [("WARNING", None)]
    assert records[0].getMessage() == (
        "could not record expired confirmations: Redis unreachable (ConnectionError); "
        "trying again every 0.05s"
    )
