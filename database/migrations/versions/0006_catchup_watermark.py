"""The listener's catch-up watermark: how far each account's ledger is known complete.

Why
---
The listener's REST catch-up used to start from the newest ``exec_time`` in the ledger,
read when the catch-up ran. Live fills that arrived after a reconnection (or while a
catch-up was retrying a REST error) moved that start past the outage, and executions of
an outage longer than ``LISTENER_CATCHUP_MARGIN_SECONDS`` were lost. The start must
come from what the ledger held when the stream was lost, and survive a ``kill -9`` of
the listener in the middle of a catch-up.

``trading.catchup_marks`` holds, per account, ``caught_up_to``: every execution of the
account with an earlier ``exec_time`` (less the margin) is in the ledger or in the
listener's spool. The listener advances it only when a catch-up window is durably
written, or from the ledger while its socket has been up without a break since the
last completed catch-up (``websocket_listener.catchup``); a catch-up always starts
from it. It never moves back.

Upgrade seeds it, for every account the ledger knows, with that account's newest
``exec_time`` — where the old listener would have started — so nothing that was caught
up is read again and nothing that was not is skipped. Like the ledger, only the
listener role writes it (GRANT plus the single-writer trigger); everyone may read it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    listener, app, readonly = (role(k) for k in ("listener", "app", "readonly"))
    op.execute(
        """
        CREATE TABLE trading.catchup_marks (
            account       text PRIMARY KEY,
            caught_up_to  timestamptz NOT NULL,
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        INSERT INTO trading.catchup_marks (account, caught_up_to)
        SELECT account, max(newest) FROM (
            SELECT account, max(exec_time) AS newest FROM trading.fills GROUP BY account
            UNION ALL
            SELECT account, max(exec_time) FROM trading.funding GROUP BY account
        ) AS ledger
        GROUP BY account;
        """
    )
    # Seeded above as the owner; from here on the listener alone writes it.
    op.execute(
        "CREATE TRIGGER catchup_marks_single_writer BEFORE INSERT OR UPDATE OR DELETE OR "
        "TRUNCATE ON trading.catchup_marks FOR EACH STATEMENT "
        "EXECUTE FUNCTION trading.guard_ledger_writer()"
    )
    op.execute(f"GRANT SELECT ON trading.catchup_marks TO {listener}, {app}, {readonly}")
    op.execute(f"GRANT INSERT, UPDATE ON trading.catchup_marks TO {listener}")


def downgrade() -> None:
    op.execute("DROP TABLE trading.catchup_marks")
