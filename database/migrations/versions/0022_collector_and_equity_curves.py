"""The candle collector's rights (insert closed candles into ``market.candles``, nothing
else) and the equity curve of a stored backtest run.

Why the collector's role
------------------------
``alpha data collect`` is a long-running service that writes the closed candles the
exchange pushes. The store's history is what every backtest and every bot's warm-up
reads, so who may change it matters more than who may add to it:

* not the owner role: a service holding the owner's password could alter any schema;
* not the bot role: plugin code runs with it, and one plugin could then rewrite the
  history another bot warms up on and every backtest reads;
* its own role, ``collector``, with ``INSERT`` on ``market.candles`` only. The
  collector inserts with ``ON CONFLICT DO NOTHING`` (which needs no other right), so it
  adds bars the store lacks and can neither change nor delete a stored one, nor read
  anything (not even the candles, not the ledger). A bar stored wrongly is corrected
  by ``alpha data download`` (the owner), which updates rows that differ.

Why the curve
-------------
``alpha backtest show RUN --chart out.png`` draws the equity and its drawdown. The
trades alone give only the realized equity at each exit, not the mark-to-market equity
the metrics' drawdown is measured on, so the run keeps the curve itself: one point per
bar time (``equity_times``, ``equity``: exact ``numeric``), NULL for runs stored before.
Arrays in the run's row rather than a row per point: a 100,000-bar run is one row, and
the curve is only ever read whole.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    collector = role("collector")
    op.execute(
        f"""
        GRANT USAGE ON SCHEMA market TO {collector};
        GRANT INSERT ON market.candles TO {collector};

        ALTER TABLE analytics.backtest_runs
            ADD COLUMN equity_times timestamptz[],
            ADD COLUMN equity numeric[],
            ADD CONSTRAINT backtest_runs_equity_curve CHECK (
                (equity_times IS NULL) = (equity IS NULL)
                AND cardinality(equity_times) = cardinality(equity));
        COMMENT ON COLUMN analytics.backtest_runs.equity IS
            'Mark-to-market equity at the close of each bar time (equity_times), oldest first.';
        """
    )


def downgrade() -> None:
    collector = role("collector")
    op.execute(
        f"""
        ALTER TABLE analytics.backtest_runs
            DROP CONSTRAINT backtest_runs_equity_curve,
            DROP COLUMN equity_times,
            DROP COLUMN equity;
        REVOKE INSERT ON market.candles FROM {collector};
        REVOKE USAGE ON SCHEMA market FROM {collector};
        """
    )
