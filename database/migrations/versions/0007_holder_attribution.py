"""Attribution by the holders of a symbol as of the execution's own time; funding shares.

Why
---
Funding, ADL, liquidation and delivery executions carry no link id of a bot: they
belong to whoever held the symbol on that account (docs/attribution.md). The listener
used to read the holders from its in-memory positions as they were when the execution
was written, so the answer depended on batching and arrival order (funding in the same
batch as its holder's opening fill went to ``external``; funding read late by a
catch-up went to whoever held the symbol *then*). Now the listener evaluates the rule
from the ledger, as of the execution's ledger key, inside the commit, and re-evaluates
the rows that follow a fill that arrives late. For that it must know which rows the
rule decided, and funding on a symbol several bots hold is split between them.

* ``trading.fills.attribution`` and ``trading.funding.attribution``: the rule that gave
  the row its bot (``core.attribution.Rule``). Rows written before this migration keep
  NULL ("not recorded") and are never re-evaluated.
* ``trading.funding.seq``: Bybit's ``seq`` of the funding execution, so that funding
  and fills share one ledger order ``(exec_time, seq, exec_id)``.
* ``trading.funding`` holds one row per (execution, bot share): its key becomes
  ``(exchange, exec_id, bot_id)``. The shares of one execution sum exactly to Bybit's
  ``execFee``; every share row repeats the execution's other facts.
* The listener may DELETE funding rows (to replace an execution's shares when a late
  fill changes its holders); the single-writer trigger still refuses everyone else.
* Two partial indexes find the rows the rule decided after a given ledger key.

Downgrade refuses while an execution has more than one share (it would lose money
rows); otherwise it restores 0006's key and drops the columns.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

#: ``core.attribution.HOLDER_RULES``: the rows re-evaluated when a late fill arrives.
_HOLDER_RULES = "('sole_holder', 'pro_rata', 'no_holder')"


def upgrade() -> None:
    listener = role("listener")
    op.execute(
        f"""
        ALTER TABLE trading.fills ADD COLUMN attribution text;
        ALTER TABLE trading.funding ADD COLUMN attribution text;
        ALTER TABLE trading.funding ADD COLUMN seq bigint NOT NULL DEFAULT 0;
        ALTER TABLE trading.funding DROP CONSTRAINT funding_exchange_exec_id_key;
        ALTER TABLE trading.funding
            ADD CONSTRAINT funding_exchange_exec_id_bot_key PRIMARY KEY (exchange, exec_id, bot_id);
        CREATE INDEX fills_holder_rule ON trading.fills (account, symbol, exec_time, seq, exec_id)
            WHERE attribution IN {_HOLDER_RULES};
        CREATE INDEX funding_holder_rule
            ON trading.funding (account, symbol, exec_time, seq, exec_id)
            WHERE attribution IN {_HOLDER_RULES};
        """
    )
    op.execute(f"GRANT DELETE ON trading.funding TO {listener}")


def downgrade() -> None:
    listener = role("listener")
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM trading.funding GROUP BY exchange, exec_id
                       HAVING count(*) > 1) THEN
                RAISE EXCEPTION 'funding executions split between bots: cannot go back to 0006';
            END IF;
        END $$
        """
    )
    op.execute(f"REVOKE DELETE ON trading.funding FROM {listener}")
    op.execute(
        """
        DROP INDEX trading.funding_holder_rule;
        DROP INDEX trading.fills_holder_rule;
        ALTER TABLE trading.funding DROP CONSTRAINT funding_exchange_exec_id_bot_key;
        ALTER TABLE trading.funding
            ADD CONSTRAINT funding_exchange_exec_id_key PRIMARY KEY (exchange, exec_id);
        ALTER TABLE trading.funding DROP COLUMN seq;
        ALTER TABLE trading.funding DROP COLUMN attribution;
        ALTER TABLE trading.fills DROP COLUMN attribution;
        """
    )
