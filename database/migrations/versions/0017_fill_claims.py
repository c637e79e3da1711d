"""Operator claims of external fills: who moved which fill to which bot, and why.

Why
---
A manual trade lands in ``external`` (docs/attribution.md) and nothing could give it to
the bot it belongs to. ``alpha fills assign`` (or the C2's ``/assign``) asks the listener
— still the ledger's only writer — to move it; the listener updates the fill's
``bot_id`` (the analytics triggers of 0003/0011 re-fold both pairs), marks its
``attribution`` ``operator`` (a rule the holder rule never re-evaluates) and records the
claim here, in the same transaction. One claim per fill: the primary key is the refusal
of a second one.

Who may do what: ``listener`` inserts (it is the only writer); ``readonly`` and
``backup`` read (audit, pg_dump); the other roles get nothing.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    listener, readonly, backup = role("listener"), role("readonly"), role("backup")
    others = ", ".join(role(k) for k in ("app", "bot", "sync"))
    op.execute(
        f"""
        CREATE TABLE trading.fill_claims (
            exchange     text        NOT NULL,
            exec_id      text        NOT NULL,
            account      text        NOT NULL,
            symbol       text        NOT NULL,
            from_bot     text        NOT NULL,
            to_bot       text        NOT NULL REFERENCES trading.bots (bot_id),
            requested_by text        NOT NULL CHECK (requested_by <> ''),
            reason       text        NOT NULL CHECK (reason <> ''),
            claimed_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (exchange, exec_id),
            CHECK (from_bot <> to_bot)
        );
        COMMENT ON TABLE trading.fill_claims IS
            'An operator gave an external fill to a bot (alpha fills assign): who and why.';

        REVOKE ALL ON trading.fill_claims FROM PUBLIC, {others};
        GRANT SELECT, INSERT ON trading.fill_claims TO {listener};
        GRANT SELECT ON trading.fill_claims TO {readonly}, {backup};
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE trading.fill_claims")
