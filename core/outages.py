"""Which exceptions mean "a service is away", as opposed to "the code is wrong".

Every long-running service meets Redis and PostgreSQL restarting: trade sync's jobs,
the HTTP API's requests, sweeper and event streams, the C2's commands and presses, the
nightly backup. Such a failure deserves one warning line naming what is away, an answer
that says so, and another try; anything else is a bug and keeps its traceback. One
definition here, so every service draws the line in the same place.
"""

from __future__ import annotations

import psycopg
import redis
from redis.exceptions import ClusterDownError, TryAgainError

#: Redis refusing or dropping the connection, a timeout, or a cluster between owners of a
#: slot (a failover in progress: ``CLUSTERDOWN``, ``MASTERDOWN``, ``TRYAGAIN``).
#: ``core.redis_cluster`` reports a cluster none of whose nodes answers as
#: ``redis.ConnectionError``, so it is covered too.
_REDIS_AWAY = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterDownError,  # MasterDownError is one
    TryAgainError,
)


def unreachable(exc: BaseException) -> str | None:
    """``"Redis"`` or ``"the database"`` when ``exc`` says that service is away; ``None``
    when it is anything else (a refused query, a bug).

    ``psycopg.OperationalError`` is what a connection that could not be made, was closed
    by a restart (``AdminShutdown``) or timed out in the pool raises; PgBouncer's own
    refusals while its server restarts are operational errors too. A constraint or a
    syntax error is not, and keeps its traceback wherever this is asked."""
    if isinstance(exc, _REDIS_AWAY):
        return "Redis"
    if isinstance(exc, psycopg.OperationalError):
        return "the database"
    return None
