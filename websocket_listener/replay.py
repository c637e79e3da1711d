"""``alpha listener replay FILE.jsonl``: recorded private messages through the live path.

Each line is one private WebSocket message exactly as Bybit sends it
(``{"topic": "execution", "data": [...]}``). Lines become envelopes with
``source='ws'`` and go through the listener's own writer (parse, attribute, group
commit, positions, fill streams): nothing here writes the ledger by another route.
Replaying a file twice writes nothing new the second time.

The file is checked whole before anything is written: a line that is not UTF-8 or not
one JSON object refuses the replay with its line number, and nothing changes. (A
well-formed message whose executions Bybit would never send goes the live way: each
becomes a reject with its reason.)

A running listener keeps positions in memory, so replay refuses to run beside one
(its status heartbeat is fresh, or it holds the listener's lease) unless ``--force``;
after a forced replay, restart the listener or run ``alpha positions rebuild``. Unforced,
replay holds the listener's lease while it writes (``core/lease.py``), so no listener
starts meanwhile either.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from core import redis_keys
from core.config import Settings
from core.errors import UserError
from core.lease import Lease, LeaseHeld, LeaseLost
from websocket_listener import metrics
from websocket_listener.envelope import Envelope

#: A listener whose status heartbeat is younger than this is considered running.
RUNNING_WITHIN = timedelta(seconds=10)


@dataclass
class ReplayResult:
    lines: int
    new_fills: int
    duplicates: int
    rejects: int


def check_capture(path: Path) -> int:
    """The number of messages in a capture; UserError naming the first line that is not
    UTF-8 or not a JSON object."""
    count = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{path} line {number}: not UTF-8 text; nothing replayed") from None
            if not line.strip():
                continue
            try:
                message = json.loads(line, parse_float=Decimal)
            except json.JSONDecodeError as exc:
                raise UserError(
                    f"{path} line {number}: not JSON ({exc.msg}); nothing replayed"
                ) from None
            if not isinstance(message, dict):
                raise UserError(f"{path} line {number}: not a JSON object; nothing replayed")
            count += 1
    return count


def read_capture(path: Path, account: str) -> Iterator[Envelope]:
    """Envelopes of a capture that :func:`check_capture` accepted."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                message: Any = json.loads(line, parse_float=Decimal)
                yield Envelope.from_ws(account, message)


class _ReplayLease(Lease):
    """The listener's lease, held by a replay; remembers why it was lost."""

    def __init__(self, settings: Settings) -> None:
        from core.redis_client import infra_client

        self.lost: list[str] = []
        super().__init__(
            infra_client(settings),
            redis_keys.LISTENER_LEASE,
            "the listener",
            on_lost=self.lost.append,
            lost_when_unreachable=False,
        )


def _take_lease(settings: Settings) -> _ReplayLease:
    import redis

    lease = _ReplayLease(settings)
    try:
        lease.acquire()
    except LeaseHeld as exc:
        raise LeaseHeld(
            f"{exc}, or pass --force and run 'alpha positions rebuild' afterwards"
        ) from None
    except redis.RedisError as exc:
        raise UserError(f"Redis unreachable, cannot take the listener's lease: {exc}") from None
    return lease


def listener_running(settings: Settings) -> bool:
    from core.redis_client import infra_client, sync_reply

    try:
        beat = sync_reply(infra_client(settings).hget(redis_keys.LISTENER_STATUS, "heartbeat"))
    except Exception:
        return False
    if not beat:
        return False
    return datetime.now(UTC) - datetime.fromisoformat(beat) < RUNNING_WITHIN


def replay(settings: Settings, path: Path, account: str, *, force: bool = False) -> ReplayResult:
    from websocket_listener.service import Listener

    if not path.is_file():
        raise UserError(f"{path}: no such file")
    check_capture(path)
    if not force and listener_running(settings):
        raise UserError(
            "a listener is running (its status heartbeat is fresh); stop it first, "
            "or pass --force and run 'alpha positions rebuild' afterwards"
        )
    lease = None if force else _take_lease(settings)
    before = _counts()
    listener = None
    lines = 0
    show = sys.stderr.isatty()
    try:
        # Forced, it writes beside a running listener: it takes turns with that one's
        # batches but does not take the ledger over (which would stop the listener).
        listener = Listener(settings, application_name="alpha-listener-replay", fenced=not force)
        listener.start_writer()
        for env in read_capture(path, account):
            if lease is not None and lease.lost:
                raise LeaseLost(f"replay stopped: lease lost ({lease.lost[0]})")
            listener.feed([env])  # the live way in, as a socket message
            lines += 1
            if show and lines % 1000 == 0:
                print(f"\rreplayed {lines} messages", end="", file=sys.stderr)
        if not listener.pipeline.flush(timeout=600):
            raise UserError("replay did not finish within 10 minutes")
        if len(listener.pipeline.spool):
            raise UserError(
                f"database unreachable: {len(listener.pipeline.spool)} messages are in the "
                f"spool ({settings.listener.spool_dir}); the listener replays it when it starts"
            )
    finally:
        if listener is not None and listener.pipeline.is_alive():
            listener.pipeline.stop()
        if lease is not None:
            lease.release()
        if show and lines >= 1000:
            print(file=sys.stderr)
    after = _counts()
    return ReplayResult(
        lines=lines,
        new_fills=int(after[0] - before[0]),
        duplicates=int(after[1] - before[1]),
        rejects=int(after[2] - before[2]),
    )


def _counts() -> tuple[float, float, float]:
    def total(counter: Any) -> float:
        value: float = sum(
            s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total")
        )
        return value

    return total(metrics.FILLS_WRITTEN), total(metrics.DUPLICATES), total(metrics.REJECTS)
