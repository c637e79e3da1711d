"""The operators' Redis clients (core/operator/redis_pool.py) against the real Redis: an
ordinary call gives up after ``READ_TIMEOUT`` without a reply (a partition:
tests/telegram_c2/test_c2_outages.py), while a call that waits on purpose (a claim's
answer, the API's event stream) waits its time."""

from __future__ import annotations

import asyncio
import time

from core.operator import fill_claims
from core.operator.redis_pool import READ_TIMEOUT, RedisPool


def test_a_blocking_wait_longer_than_the_read_timeout_is_not_an_outage(database) -> None:
    """Before: the C2 waits up to 30 s for the listener's answer to a claim (BLPOP) on
    a client whose reads gave up after 5 s, so a listener slower than that was reported
    as "Redis is unreachable" instead of "no answer from the listener"."""
    wait = READ_TIMEOUT + 1.5

    async def scenario() -> tuple[object, float]:
        pool = RedisPool(database.settings)
        try:
            began = time.monotonic()
            answer = await fill_claims.request_claim_async(
                pool.infra_waiting(wait), "e-none", "alpha_one", "test", "pytest", timeout=wait
            )
            return answer, time.monotonic() - began
        finally:
            await pool.close()

    answer, took = asyncio.run(scenario())
    assert answer is None  # nobody answered: the listener's silence, not an error
    assert wait - 0.5 < took < wait + 3, took
