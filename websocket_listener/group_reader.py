"""A consumer-group reader thread: the listener's streams that others write to.

Trade sync's hand-over (``handover.py``) and operators' fill claims
(``claim_requests.py``) are read the same way: on start, this consumer's own pending
entries first (read before a crash, never acknowledged), page by page from id ``0``;
then new entries (``>``), blocking up to ``BLOCK_MS``. Each entry goes to
:meth:`GroupReader.handle`, which acknowledges it when its effect is durable. Redis
being away is a warning and a fixed one-second pause, not ``core.retry``'s growing one:
these entries are missing fills and waiting operators, and should flow within a second
of Redis coming back.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from core.config import Settings
from core.redis_client import ensure_group, no_retry, redis_client, sync_reply

log = logging.getLogger(__name__)

CONSUMER = "listener"
BLOCK_MS = 1000
#: A read that gets no answer this long after its block fails: without a timeout, a read
#: sent into a partition that drops packets waits as long as TCP retransmits (up to a
#: quarter of an hour) and the stream stops flowing until then.
READ_TIMEOUT_SECONDS = BLOCK_MS / 1000 + 5


def reader_client(settings: Settings) -> redis.Redis:
    """The infrastructure DB, for a reader: the read timeout above, and no retry inside
    redis-py (the reader's own loop tries again a second later)."""
    return redis_client(
        settings,
        settings.redis.infra_db,
        socket_timeout=READ_TIMEOUT_SECONDS,
        retry=no_retry(),
    )


class GroupReader:
    """Reads ``stream`` as ``group``/:data:`CONSUMER` on a thread of its own."""

    def __init__(
        self, client: redis.Redis, stream: str, group: str, *, count: int, name: str
    ) -> None:
        self._redis = client
        self._stream = stream
        self._group = group
        self._count = count
        self._stop = threading.Event()
        self._stop_asked_at: float | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """No new read from now on; :meth:`stop` waits for the thread."""
        if self._stop_asked_at is None:
            self._stop_asked_at = time.monotonic()
        self._stop.set()

    def stop(self) -> None:
        """Waits, from the request to stop, as long as a read that Redis answers takes,
        not for a read sent into a partition to time out: an entry such a read returns
        late is never handled (the writer is stopping) nor acknowledged, so it stays
        pending for the next listener. Readers asked together end within that together."""
        self.request_stop()
        assert self._stop_asked_at is not None
        self._thread.join(max(0.0, self._stop_asked_at + BLOCK_MS / 1000 + 1 - time.monotonic()))

    def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        raise NotImplementedError

    def after_read(self) -> None:
        """Called after each read (housekeeping such as trimming)."""

    def _run(self) -> None:
        cursor: str | None = "0"  # our own pending entries first, then new ones
        while not self._stop.is_set():
            try:
                ensure_group(self._redis, self._stream, self._group, start="0")
                reply = sync_reply(
                    self._redis.xreadgroup(
                        self._group,
                        CONSUMER,
                        {self._stream: cursor or ">"},
                        count=self._count,
                        block=None if cursor else BLOCK_MS,
                    )
                )
                entries = reply[0][1] if reply else []
                for entry_id, fields in entries:
                    self.handle(entry_id, fields or {})
                if cursor is not None:
                    cursor = entries[-1][0] if entries else None
                self.after_read()
            except redis.RedisError as exc:
                log.warning("%s stream unavailable: %s", self._thread.name, exc)
                self._stop.wait(1.0)
