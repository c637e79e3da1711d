"""What a bot's wait for Redis (``UntilRedisAnswers``) costs a call while Redis answers.

    .venv/bin/python bench/redis_wait.py [--calls 20000]

A bot's Redis client waits out an outage where the call failed (core/redis_client.py,
``wait_for_redis``): each command goes through ``UntilRedisAnswers.call_with_retry``
and each connection taken from the pool through it too. This measures that path when
nothing fails, which is every call a bot makes:

- one ``GET`` and one two-command pipeline (``HGETALL`` + ``GET``, a position read) per
  round, through the same client before and after ``wait_for_redis``: two clients of
  one Redis, called alternately so both meet the same moments of the machine;
- the raw limit of the same path: the same ``GET`` on a bare ``redis.Connection``
  (``send_command`` and ``read_response``: no pool, no retry), between them;
- without the network: ``call_with_retry`` around a function that returns at once,
  redis-py's default retry against the wait, to show the Python the wait adds.

Starts its own Redis (the test harness's stack) on this machine; nothing shared is
modified.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.harness

import redis

from core.redis_client import UntilRedisAnswers, _DefaultRetry, redis_client, wait_for_redis
from tests.harness.services import ServiceStack

KEY = "bot:bench:heartbeat"
HASH = "bot:bench:position:BTCUSDT"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return 1e6 * (time.perf_counter() - started)


def _network(settings: Any, calls: int) -> dict[str, list[float]]:
    """Microseconds per call, for each client and call kind, and for the bare connection."""
    plain = redis_client(settings, 1)
    waiting = redis_client(settings, 1)
    wait_for_redis(waiting, "bench", threading.Event())
    plain.set(KEY, "2026-12-07T12:00:00+00:00")
    plain.hset(HASH, mapping={"qty": "0.117", "side": "Sell", "avg_price": "97012.5"})
    # The client's own connection settings (address, credentials, DB), with no retry.
    kw = {k: v for k, v in plain.connection_pool.connection_kwargs.items() if k != "retry"}
    bare = redis.Connection(**kw)
    bare.connect()

    def raw_get() -> None:
        bare.send_command("GET", KEY)
        bare.read_response()

    def pipeline(client: redis.Redis) -> Callable[[], Any]:
        def run() -> Any:
            pipe = client.pipeline(transaction=False)
            pipe.hgetall(HASH)
            pipe.get(KEY)
            return pipe.execute()

        return run

    kinds: dict[str, Callable[[], Any]] = {
        "GET, redis-py's retry": lambda: plain.get(KEY),
        "GET, waiting for Redis": lambda: waiting.get(KEY),
        "pipeline, redis-py's retry": pipeline(plain),
        "pipeline, waiting for Redis": pipeline(waiting),
        "raw limit: GET on a bare connection": raw_get,
    }
    for call in kinds.values():  # connections made, code warm
        for _ in range(200):
            call()
    times: dict[str, list[float]] = {name: [] for name in kinds}
    for i in range(calls):
        order = list(kinds.items())
        if i % 2:
            order.reverse()  # neither side always first after the other
        for name, call in order:
            times[name].append(_timed(call))
    bare.disconnect()
    plain.close()
    waiting.close()
    return times


def _python_only(calls: int) -> dict[str, float]:
    """Nanoseconds per ``call_with_retry`` of a function that returns at once."""

    def nothing() -> int:
        return 1

    def fail(_error: Exception) -> None:
        return None

    retries = {
        "redis-py's retry": _DefaultRetry(),
        "waiting for Redis": UntilRedisAnswers("bench", threading.Event()),
    }
    best: dict[str, float] = {}
    for name, retry in retries.items():
        rounds = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(calls):
                retry.call_with_retry(nothing, fail)
            rounds.append(1e9 * (time.perf_counter() - started) / calls)
        best[name] = min(rounds)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000, help="rounds of each call")
    args = parser.parse_args()
    stack = ServiceStack.start()
    try:
        dbname = stack.create_database()
        times = _network(stack.settings(dbname), args.calls)
        stack.drop_database(dbname)
    finally:
        stack.stop()
    python = _python_only(200_000)

    print(f"one bot's Redis calls, {args.calls} rounds, alternating, in microseconds:")
    for name, values in times.items():
        print(f"  {name:<38} p50 {_pct(values, 0.5):7.1f}  p99 {_pct(values, 0.99):7.1f}")
    for kind in ("GET", "pipeline"):
        cost = statistics.median(times[f"{kind}, waiting for Redis"]) - statistics.median(
            times[f"{kind}, redis-py's retry"]
        )
        print(f"  the wait's cost on a {kind}: {cost:+.1f} µs at the median")
    print("call_with_retry around a function that returns at once (best of 5 × 200,000):")
    for name, ns in python.items():
        print(f"  {name:<38} {ns:7.0f} ns")
    print(f"reproduce: .venv/bin/python bench/redis_wait.py --calls {args.calls}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
