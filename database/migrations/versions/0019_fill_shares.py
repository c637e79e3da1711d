"""An exchange-generated fill on a symbol several bots hold is split between them.

Why
---
An ADL, a liquidation or a delivery reduces the account's net position, which is the sum
of every bot's position in the symbol. When several bots held it, the holder rule used
to give the whole fill to the account's fallback bot (``external``): the bots' positions
kept quantity the exchange had closed, and ``external`` got a position nobody opened.
Now such a fill is split between the holders of the side it reduces
(``core.attribution.split_fill``, docs/attribution.md), one row per bot share, as
funding has been since 0007.

* ``trading.fills`` holds one row per (execution, bot share): its key becomes
  ``(exchange, exec_id, bot_id)``. The shares' ``exec_qty``, ``exec_value`` and
  ``exec_fee`` sum exactly to Bybit's; every share repeats the execution's other facts.
* Exactly once is still a property of the execution: ``fills_one_execution`` refuses
  (``unique_violation``) a statement that leaves an ``exec_id`` on several rows unless
  they are all ``pro_rata`` shares of one execution (same account, symbol, side, time,
  seq, price, type and fee coin). A second writer's copy of an execution is inserted
  as one provisional row, so it is refused as the old primary key refused it. It costs
  one index probe per inserted row: measured on 2 shared cores, 1,000-fill batches
  into a ledger of up to 64,000 fills took 140–146 ms by COPY without it and 167–171 ms
  with it (medians of 15 batches; the INSERT path's figures were within their noise).
* ``analytics.fill_pnl`` is keyed ``(exchange, exec_id, bot_id)`` too: each share is
  folded in its own bot's position (the fold is per (account, bot, symbol), in which an
  execution still appears at most once, so the fold functions are unchanged).
* The listener may DELETE fills (to replace an execution's shares when a late fill
  changes its holders); the single-writer trigger still refuses everyone else.

Downgrade refuses while an execution has more than one share (it would lose money
rows); otherwise it restores 0018's keys.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_CHECK = """
CREATE FUNCTION trading.fills_one_execution() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    dup text;
BEGIN
    -- One index probe per new row (the key's prefix): any other row of its exec_id is
    -- another bot's, allowed only when both are pro_rata shares of the same execution.
    SELECT n.exec_id INTO dup
      FROM new_rows n
     WHERE EXISTS (
           SELECT 1 FROM trading.fills f
            WHERE f.exchange = n.exchange AND f.exec_id = n.exec_id AND f.bot_id <> n.bot_id
              AND NOT (f.attribution IS NOT DISTINCT FROM 'pro_rata'
                       AND n.attribution IS NOT DISTINCT FROM 'pro_rata'
                       AND (f.account, f.symbol, f.side, f.exec_time, f.seq, f.exec_price,
                            f.exec_type, f.fee_currency)
                           IS NOT DISTINCT FROM (n.account, n.symbol, n.side, n.exec_time,
                                                 n.seq, n.exec_price, n.exec_type,
                                                 n.fee_currency)))
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'execution % is in trading.fills more than once', dup
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'fills_one_execution',
                  HINT = 'only the pro_rata shares of one execution may share an exec_id';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER fills_one_execution_insert AFTER INSERT ON trading.fills
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trading.fills_one_execution();
CREATE TRIGGER fills_one_execution_update AFTER UPDATE ON trading.fills
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trading.fills_one_execution();
"""


def upgrade() -> None:
    listener = role("listener")
    op.execute(
        """
        ALTER TABLE trading.fills DROP CONSTRAINT fills_exchange_exec_id_key;
        ALTER TABLE trading.fills
            ADD CONSTRAINT fills_exchange_exec_id_bot_key PRIMARY KEY (exchange, exec_id, bot_id);
        ALTER TABLE analytics.fill_pnl DROP CONSTRAINT fill_pnl_pkey;
        ALTER TABLE analytics.fill_pnl ADD CONSTRAINT fill_pnl_pkey
            PRIMARY KEY (exchange, exec_id, bot_id);
        """
    )
    op.execute(_CHECK)
    op.execute(f"GRANT DELETE ON trading.fills TO {listener}")


def downgrade() -> None:
    listener = role("listener")
    op.execute(
        """
        DO $$
        BEGIN
            IF EXISTS (SELECT 1 FROM trading.fills GROUP BY exchange, exec_id
                       HAVING count(*) > 1) THEN
                RAISE EXCEPTION 'fills split between bots: cannot go back to 0018';
            END IF;
        END $$
        """
    )
    op.execute(f"REVOKE DELETE ON trading.fills FROM {listener}")
    op.execute(
        """
        DROP TRIGGER fills_one_execution_update ON trading.fills;
        DROP TRIGGER fills_one_execution_insert ON trading.fills;
        DROP FUNCTION trading.fills_one_execution();
        ALTER TABLE analytics.fill_pnl DROP CONSTRAINT fill_pnl_pkey;
        ALTER TABLE analytics.fill_pnl ADD CONSTRAINT fill_pnl_pkey PRIMARY KEY (exchange, exec_id);
        ALTER TABLE trading.fills DROP CONSTRAINT fills_exchange_exec_id_bot_key;
        ALTER TABLE trading.fills
            ADD CONSTRAINT fills_exchange_exec_id_key PRIMARY KEY (exchange, exec_id);
        """
    )
