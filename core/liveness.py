"""When a connection to PostgreSQL or Redis counts as dead: one set of figures for both.

A partition that drops packets resets nothing: without these, a request waited as long as
TCP retransmits (about 15 minutes on Linux) and a connection idle in a read that waits on
purpose (a bot's stream read) waited for ever. With them a connection fails after
``USER_TIMEOUT_MS`` with data unacknowledged, or after ``KEEPALIVE_IDLE_S`` of silence
once its probes go unanswered (``TCP_USER_TIMEOUT`` bounds those too): within about
25 s either way, and the caller's own outage handling takes over. A slow reply is not
cut short: the server's kernel acknowledges the request and answers the probes.
``core.db`` gives them to libpq, ``core.redis_client`` to redis-py's sockets.
"""

from __future__ import annotations

#: Seconds of silence on a connection before the first keepalive probe.
KEEPALIVE_IDLE_S = 10
#: Seconds between probes.
KEEPALIVE_INTERVAL_S = 5
#: Unanswered probes before the connection is dropped.
KEEPALIVE_COUNT = 3
#: Milliseconds sent data (or a probe) may stay unacknowledged.
USER_TIMEOUT_MS = 15_000
