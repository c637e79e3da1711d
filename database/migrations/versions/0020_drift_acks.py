"""Operator acknowledgements of open drift: who let bots enter again despite it, and why.

Why
---
A bot does not enter while trade sync reports open drift on its account and symbol
(bots/runtime/drift_gate.py). Some drift an operator understands and accepts (a hedge
kept by hand, a position being closed on the exchange's site): ``alpha drift ack`` or
the C2's ``/ackdrift`` records an acknowledgement of the drift *as it is now*: the open
``drift_events`` row and its two quantities. The gate ignores an open drift whose
quantities equal an acknowledgement of that row; a drift that changes (trade sync
updates the row's quantities) or a new one (a new row) holds entries again.

Who may do what: ``app`` (the C2, the API) inserts, the owner (the CLI) owns the table;
``bot`` reads it (the gate), as do ``sync``, ``listener``, ``readonly`` and ``backup``.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    app, bot, sync = role("app"), role("bot"), role("sync")
    readonly, backup = role("readonly"), role("backup")
    op.execute(
        f"""
        CREATE TABLE trading.drift_acks (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            drift_id      bigint      NOT NULL REFERENCES trading.drift_events (id),
            exchange_qty  numeric     NOT NULL,
            ledger_qty    numeric     NOT NULL,
            acked_by      text        NOT NULL CHECK (acked_by <> ''),
            reason        text,
            acked_at      timestamptz NOT NULL DEFAULT now(),
            UNIQUE (drift_id, exchange_qty, ledger_qty)
        );
        COMMENT ON TABLE trading.drift_acks IS
            'An operator let bots enter despite an open drift with these quantities'
            ' (alpha drift ack, /ackdrift).';

        REVOKE ALL ON trading.drift_acks FROM PUBLIC;
        GRANT SELECT, INSERT ON trading.drift_acks TO {app};
        GRANT SELECT ON trading.drift_acks TO {bot}, {sync}, {readonly}, {backup};
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE trading.drift_acks")
