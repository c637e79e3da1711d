"""The ledger names its one writer: ``trading.ledger_writer``, a fencing row.

Why
---
The listener holds a lease in Redis (``listener:lease``), so a second listener does not
start while the first renews it. But the lease cannot stop a listener that is already
running and has lost Redis: by design it goes on writing the ledger through a Redis
outage. If a partition hides it from a cluster engine, the engine starts a new listener
elsewhere, which takes the lapsed lease, and both write the ledger. The ledger stays
exactly once (its keys), but each listener folds positions only from the fills it
inserted itself: the new holder's positions and the bots' fill streams would miss what
the old one wrote, and a bot could miss the fill that should place its stop.

So the ledger itself records who may write it, as a fencing token:

* ``holder``: the listener that took the ledger over last (``host:pid:token``). A
  listener that holds the lease writes its token here before it folds the ledger
  (``websocket_listener/ledger_fence.py``).
* Every transaction that writes fills or funding, or moves a fill, first updates this
  row ``WHERE holder = <its token>``: the row lock makes two writers' transactions take
  turns (the holder rule then decides each batch from the other's committed rows), and
  an update of no row tells an old listener that another took over. It writes nothing
  and stops.
* ``batches`` counts those transactions (the update needs a column to change; the count
  also shows a writer is alive). ``taken_at``: when ``holder`` last changed.

One row (the key is ``true``). The listener may read it and update these three columns;
nobody may insert or delete. Other service roles read it through the default
privileges (0008), as every ``trading`` table.

Downgrade drops the table.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    listener = role("listener")
    op.execute(
        f"""
        CREATE TABLE trading.ledger_writer (
            only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
            holder   text NOT NULL DEFAULT '',
            taken_at timestamptz,
            batches  bigint NOT NULL DEFAULT 0
        );
        INSERT INTO trading.ledger_writer DEFAULT VALUES;
        COMMENT ON TABLE trading.ledger_writer IS
            'Who may write the ledger (a fencing token): every fill batch updates this row'
            ' WHERE holder = its own token first (websocket_listener/ledger_fence.py).';
        GRANT SELECT, UPDATE (holder, taken_at, batches) ON trading.ledger_writer TO {listener};
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE trading.ledger_writer")
