"""A bounded on-disk queue of envelopes that could not be committed yet.

When PostgreSQL or PgBouncer is unreachable the listener keeps receiving and appends
each batch here (one JSON line per envelope, ``fsync``'d before the append returns), so
memory stays flat and a crash during the outage loses nothing that was received. On
recovery the writer replays the spool **in order**, before any newer message.

Segments are files ``NNNNNNNNNNNN.jsonl``; a fully replayed segment is deleted. Replaying
a segment twice (a crash half-way through a replay) is harmless: every write is
idempotent (``ON CONFLICT DO NOTHING``; order updates never move backwards).

The spool is bounded by ``LISTENER_SPOOL_MAX_BYTES``. When it is full, :meth:`append`
refuses and the caller records an overflow: those executions are re-read from the
exchange by the catch-up that follows recovery (it starts before the last committed
fill), so a full disk delays fills but never drops one.

Only the writer thread touches a spool; it is not thread-safe by design.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from core.errors import UserError
from websocket_listener.envelope import Envelope

log = logging.getLogger(__name__)

SEGMENT_BYTES = 16 * 1024 * 1024


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._segments: list[Path] = []
        self._bytes = 0
        self._count = 0
        #: (segment index 0, byte offset) of the next envelope to replay.
        self._read_offset = 0

    def open(self) -> None:
        """Take up what an earlier run left, cutting a torn last line.

        Not in the constructor: only the listener that holds the lease may do this (the
        writer opens it when it starts). Another listener may be appending to the same
        directory, and its last line, not yet ended, would look torn."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._segments = sorted(self.directory.glob("*.jsonl"))
            for segment in self._segments:
                _truncate_torn_tail(segment)
            self._bytes = sum(p.stat().st_size for p in self._segments)
            self._count = sum(_count_lines(p) for p in self._segments)
        except OSError as exc:
            raise UserError(
                f"listener spool {self.directory} (LISTENER_SPOOL_DIR): {exc.strerror or exc}"
            ) from None
        self._read_offset = 0

    # --- state -------------------------------------------------------------------

    def __len__(self) -> int:
        """Envelopes waiting to be replayed."""
        return self._count

    @property
    def bytes(self) -> int:
        return self._bytes

    def empty(self) -> bool:
        return self._count == 0

    # --- writing -----------------------------------------------------------------

    def append(self, envelopes: Iterable[Envelope]) -> bool:
        """Durably append; False (nothing written) when it would exceed the bound."""
        data = "".join(env.to_json() + "\n" for env in envelopes).encode()
        if not data:
            return True
        if self._bytes + len(data) > self.max_bytes:
            return False
        segment = self._writable_segment(len(data))
        with open(segment, "ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        self._bytes += len(data)
        self._count += data.count(b"\n")
        return True

    def _writable_segment(self, size: int) -> Path:
        if self._segments:
            last = self._segments[-1]
            # Never append to the segment being replayed from a non-zero offset: keeps
            # the offset arithmetic trivial.
            replaying = len(self._segments) == 1 and self._read_offset > 0
            if not replaying and last.stat().st_size + size <= SEGMENT_BYTES:
                return last
        number = int(self._segments[-1].stem) + 1 if self._segments else 1
        path = self.directory / f"{number:012d}.jsonl"
        path.touch()
        _fsync_dir(self.directory)
        self._segments.append(path)
        return path

    # --- replaying ---------------------------------------------------------------

    def peek(self, max_items: int) -> tuple[list[Envelope], int]:
        """The oldest envelopes (about ``max_items`` executions: an envelope counts as its
        number of items, as in a live batch) and a token for :meth:`consume`.

        A torn last line (a crash mid-append) is skipped with a warning: that append
        never returned, so nothing relied on it, and catch-up re-reads its executions.
        """
        if not self._segments:
            return [], 0
        segment = self._segments[0]
        out: list[Envelope] = []
        end = self._read_offset
        size = 0
        with open(segment, "rb") as fh:
            fh.seek(self._read_offset)
            while size < max_items:
                line = fh.readline()
                if not line:
                    break
                end += len(line)
                if not line.endswith(b"\n"):
                    log.warning("spool: skipping a torn line at the end of %s", segment.name)
                    continue
                try:
                    out.append(Envelope.from_json(line.decode()))
                    size += max(1, len(out[-1].items))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("spool: skipping an unreadable line in %s: %s", segment.name, exc)
        return out, end

    def consume(self, token: int) -> None:
        """Forget everything returned by the last :meth:`peek` (after it was committed)."""
        if not self._segments:
            return
        segment = self._segments[0]
        consumed = token - self._read_offset
        with open(segment, "rb") as fh:
            fh.seek(self._read_offset)
            lines = fh.read(consumed).count(b"\n")
        self._count = max(0, self._count - lines)
        self._bytes = max(0, self._bytes - consumed)
        self._read_offset = token
        if token >= segment.stat().st_size:
            segment.unlink()
            _fsync_dir(self.directory)
            self._segments.pop(0)
            self._read_offset = 0
            if not self._segments:
                self._count = 0
                self._bytes = 0


def _truncate_torn_tail(path: Path) -> None:
    """Cut a partial last line left by a crash mid-append (that append never returned)."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        log.warning(
            "spool: dropping a torn line (%d bytes) at the end of %s", len(data) - keep, path.name
        )
        with open(path, "r+b") as fh:
            fh.truncate(keep)
            os.fsync(fh.fileno())


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
