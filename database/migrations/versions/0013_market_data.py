"""The market data store: candles and funding rates for research and warm-up.

Why
---
Backtests read candles from a CSV the user had to produce elsewhere, and nothing kept
what the exchange served. ``market.candles`` and ``market.funding_rates`` hold the
exchange's public history exactly (NUMERIC, from its strings), one row per bar or
settlement: the primary keys make a second download of the same range a no-op.

Who may do what (docs/database-roles.md#market-data):

* ``owner`` writes: ``alpha data download`` is an operator's one-shot command that
  connects directly, like ``alpha bots register``. No service role may write, so a bot's
  plugin code cannot rewrite the history another bot's backtest reads.
* ``bot`` and ``readonly`` read (warm-up from the store, reports and Grafana);
  ``backup`` reads, so pg_dump includes the schema.

A separate schema, not ``trading``: nothing here is an account's ledger, and the
single-writer guard and the backup's ledger checksum are about the ledger only.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: Bybit's kline intervals that have a fixed length (core/candles.py INTERVAL_SECONDS).
_INTERVALS = "'1','3','5','15','30','60','120','240','360','720','D','W'"


def upgrade() -> None:
    owner, bot, readonly, backup = (role(k) for k in ("owner", "bot", "readonly", "backup"))
    op.execute(
        f"""
        CREATE SCHEMA market;
        REVOKE ALL ON SCHEMA market FROM PUBLIC;

        CREATE TABLE market.candles (
            exchange  text        NOT NULL,
            symbol    text        NOT NULL,
            interval  text        NOT NULL CHECK (interval IN ({_INTERVALS})),
            open_time timestamptz NOT NULL,
            open      numeric     NOT NULL,
            high      numeric     NOT NULL,
            low       numeric     NOT NULL,
            close     numeric     NOT NULL,
            volume    numeric     NOT NULL CHECK (volume >= 0),
            turnover  numeric     NOT NULL CHECK (turnover >= 0),
            PRIMARY KEY (exchange, symbol, interval, open_time)
        );
        COMMENT ON TABLE market.candles IS
            'Closed candles as the exchange served them; open_time is the bar start (UTC).';

        CREATE TABLE market.funding_rates (
            exchange     text        NOT NULL,
            symbol       text        NOT NULL,
            funding_time timestamptz NOT NULL,
            rate         numeric     NOT NULL,
            PRIMARY KEY (exchange, symbol, funding_time)
        );
        COMMENT ON TABLE market.funding_rates IS
            'Funding settlements: rate > 0 means longs paid shorts at funding_time.';

        GRANT USAGE ON SCHEMA market TO {bot}, {readonly}, {backup};
        GRANT SELECT ON market.candles, market.funding_rates TO {bot}, {readonly}, {backup};
        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA market
            GRANT SELECT ON TABLES TO {bot}, {readonly}, {backup};
        """
    )


def downgrade() -> None:
    owner, bot, readonly, backup = (role(k) for k in ("owner", "bot", "readonly", "backup"))
    op.execute(
        f"""
        ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA market
            REVOKE SELECT ON TABLES FROM {bot}, {readonly}, {backup};
        DROP SCHEMA market CASCADE;
        """
    )
