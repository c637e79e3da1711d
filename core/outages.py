"""Which exceptions mean "a service is away", as opposed to "the code is wrong".

Every long-running service meets Redis and PostgreSQL restarting: trade sync's jobs,
the HTTP API's requests, sweeper and event streams, the C2's commands and presses, the
nightly backup. Such a failure deserves one warning line naming what is away, an answer
that says so, and another try; anything else is a bug and keeps its traceback. One
definition here, so every service draws the line in the same place.
"""

from __future__ import annotations

import logging
import threading

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


class OutageNotice:
    """What a loop that meets an outage on every try says about it: one warning when a
    service goes away (``"<doing>: Redis unreachable (ConnectionError)<retry>"``) and one
    line when it answers again (``"Redis answers again; <resumed>"``), not a line a try.

    Thread-safe: trade sync's jobs share theirs across the scheduler's threads."""

    def __init__(self, log: logging.Logger, doing: str, *, resumed: str, retry: str = "") -> None:
        self._log, self._doing, self._resumed, self._retry = log, doing, resumed, retry
        self._away: set[str] = set()
        self._lock = threading.Lock()

    @property
    def away(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._away)

    def failed(self, exc: BaseException, *, quiet: bool = False) -> str | None:
        """The service ``exc`` says is away, warned about if it was not already (or
        ``quiet``: another line said so); ``None`` for anything else, which the caller
        logs with its traceback."""
        away = unreachable(exc)
        if away is None:
            return None
        with self._lock:
            new = away not in self._away
            self._away.add(away)
        if new and not quiet:
            self._log.warning(
                "%s: %s unreachable (%s)%s", self._doing, away, type(exc).__name__, self._retry
            )
        return away

    def answered(self, service: str | None = None) -> None:
        """A try succeeded: ``service`` (every one, if ``None``) answers again."""
        with self._lock:
            back = sorted(self._away if service is None else self._away & {service})
            self._away.difference_update(back)
        for name in back:
            self._log.info("%s answers again; %s", name, self._resumed)
