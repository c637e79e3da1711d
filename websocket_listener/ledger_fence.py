"""One writer of the ledger at a time: the fencing row ``trading.ledger_writer``.

The listener's lease in Redis keeps a second listener from starting, but it cannot stop
one that already runs and has lost Redis: that one goes on writing the ledger, by design
(a Redis outage must not stop it). When a partition hides it from a cluster engine, a
new listener takes the lapsed lease elsewhere, and two would write. The ledger would
stay exactly once, but each folds positions only from the fills it inserted: the new
holder's positions and the bots' streams would miss the old one's fills. So the ledger
records its writer itself (migration 0023), as a fencing token:

* :func:`take`: a listener holding the lease writes its token into the row before it
  folds the ledger, and learns whom it took over from. From then on, everything the
  old writer committed is in the fold, and it can commit nothing more.
* :func:`turn`: every transaction that writes fills or funding, or moves a fill, first
  updates the row, ``WHERE holder = <token>``. First, because:

  - the row lock makes two writers' transactions take turns. The holder rule decides
    from what the ledger held before each execution; with the turn, the second batch
    waits, and its statements (read committed: a snapshot each) see the first's commit.
    Taken before any row is written: the analytics fold's triggers take their own
    advisory locks on each write, so taking this one after them could deadlock;
  - an update of no row means another listener took the ledger over: :class:`Fenced`,
    the transaction writes nothing, and the listener stops (exit 74).

  ``holder=None`` (``alpha listener replay --force``, tests): the turn, without the
  check.

:func:`turn_taken` opens the writer's transaction with its turn: on the listener's
autocommit connection ``BEGIN`` and the turn travel as one simple query, so the turn
costs no round trip of its own (``bench/ledger_fence.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from core.lease import LeaseLost

log = logging.getLogger(__name__)

_TURN = "UPDATE trading.ledger_writer SET batches = batches + 1"
_FENCED_TURN = _TURN + " WHERE holder = %s RETURNING batches"
_TAKE = "UPDATE trading.ledger_writer SET holder = %s, taken_at = now()"
_HOLDER = "SELECT holder FROM trading.ledger_writer"


class Fenced(LeaseLost):
    """Another listener took the ledger over: this one must not write it any more."""


def turn(cur: psycopg.Cursor[Any], holder: str | None) -> None:
    """Take this transaction's turn at the ledger; :class:`Fenced` if ``holder`` is no
    longer its writer (the transaction must then be rolled back: nothing was written)."""
    if holder is None:
        cur.execute(_TURN)
        return
    cur.execute(_FENCED_TURN, (holder,))
    if cur.fetchone() is None:
        _fenced(cur)


def _fenced(cur: psycopg.Cursor[Any]) -> NoReturn:
    cur.execute(_HOLDER)
    row = cur.fetchone()
    now = row[0] if row else "nobody"
    raise Fenced(
        f"the listener stopped: another listener ({now}) took the ledger over;"
        " this one writes nothing more"
    )


@contextmanager
def turn_taken(conn: psycopg.Connection[Any], holder: str | None) -> Iterator[None]:
    """A transaction that has taken its turn at the ledger, committed when the block
    ends and rolled back if it raises (:class:`Fenced` included).

    On an idle autocommit connection (the listener's) ``BEGIN`` and the turn are one
    simple query, one round trip: the holder travels as a quoted literal, because the
    simple protocol takes no parameters. Otherwise (inside a caller's transaction) the
    turn is a statement of its own in ``conn.transaction()``."""
    if not conn.autocommit or _in_transaction(conn):
        with conn.transaction(), conn.cursor() as cur:
            turn(cur, holder)
            yield
        return
    with conn.cursor() as cur:
        try:
            cur.execute(_begin_and_turn(holder))
            cur.nextset()  # past BEGIN's result, to the turn's
            if holder is not None and cur.fetchone() is None:
                _fenced(cur)
            yield
        except BaseException:
            if not conn.closed and _in_transaction(conn):
                try:
                    conn.rollback()
                except psycopg.Error:
                    pass  # the connection is gone: so is the transaction
            raise
    conn.commit()


def _in_transaction(conn: psycopg.Connection[Any]) -> bool:
    return conn.info.transaction_status != TransactionStatus.IDLE


def _begin_and_turn(holder: str | None) -> sql.Composed:
    if holder is None:
        return sql.SQL("BEGIN; " + _TURN).format()
    return sql.SQL("BEGIN; " + _FENCED_TURN.replace("%s", "{}")).format(sql.Literal(holder))


def take(conn: psycopg.Connection[Any], holder: str) -> str:
    """Make ``holder`` the ledger's writer (committed); returns the previous holder."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(_HOLDER + " FOR UPDATE")  # waits for a batch in flight to commit
        row = cur.fetchone()
        cur.execute(_TAKE, (holder,))
    before = str(row[0]) if row else ""
    if before and before != holder:
        log.info("ledger writer: %s (took over from %s)", holder, before)
    return before
