"""A bot registered without ``--redis-db`` keeps its keys in the shared DB
(``redis_keys.SHARED_DB``): the C2 reads its state there and pauses and resumes it there."""

from __future__ import annotations

import pytest
from c2_harness import ADMIN, VIEWER, add_bot, run, running_c2, wait_audit

from core import redis_keys


@pytest.mark.parametrize("redis_mode", ["standalone", "cluster"])
def test_status_pause_and_resume_of_a_bot_in_the_shared_db(c2_env, redis_mode) -> None:
    """On a Redis Cluster (one node) the second bot has no DB of its own either."""
    own = 4 if redis_mode == "standalone" else None
    add_bot(c2_env, "gamma_nodb", "g1", None)
    add_bot(c2_env, "delta_own", "d1", own)
    shared = c2_env.redis(redis_keys.SHARED_DB)
    shared.set("bot:gamma_nodb:state", "running")
    c2_env.redis(redis_keys.bot_db(own)).set("bot:delta_own:state", "running")

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            text = (await c2.send(VIEWER, "/status")).params["text"]
            assert "gamma_nodb (g1): running" in text and "delta_own (d1): running" in text
            await c2.send(ADMIN, "/pause g1")
            await wait_audit(c2_env, 1)
            assert shared.get("bot:gamma_nodb:state") == "paused"
            text = (await c2.send(VIEWER, "/status")).params["text"]
            assert "gamma_nodb (g1): paused" in text
            await c2.send(ADMIN, "/resume gamma_nodb")
            await wait_audit(c2_env, 2)

    run(scenario())
    assert shared.get("bot:gamma_nodb:state") == "running"
    assert c2_env.redis(redis_keys.bot_db(own)).get("bot:delta_own:state") == "running"
    if own is not None:
        assert c2_env.redis(own).get("bot:gamma_nodb:state") is None
