"""An index on the order fills reached the ledger, for the API's event stream.

Why
---
``GET /api/v1/events`` tells its clients about new fills. "New" is the order of
arrival, not of execution: trade sync's catch-up inserts fills executed hours ago, which
an ``exec_time`` cursor would never see. ``ingested_at`` is that order (up to
transactions that commit out of their start order, which the stream covers by
re-reading a short overlap, see api/events.py), but without an index each poll of the
stream would scan the whole ledger. ``fills_ingest_order`` makes a poll an index range
scan of the last seconds, at the cost of one more B-tree entry per insert. Measured at
300,000 fills on 2 shared cores: a poll takes 0.19 ms p50 with the index, 64 ms without
(a sequential scan, growing with the ledger: each open stream polls every second).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX fills_ingest_order ON trading.fills (ingested_at, exec_id)")


def downgrade() -> None:
    op.execute("DROP INDEX trading.fills_ingest_order")
