"""Stored backtest results: one row per run, one per round trip.

Why
---
``alpha backtest`` printed its numbers and kept nothing, so two runs (another config,
another range, another code version) could only be compared by scrolling. A run is now
stored with everything needed to know what produced it (bot type, the validated config,
the code version, the data source and range) and what it measured; its trades are kept
exactly (NUMERIC, from the engine's ``Decimal``) so a result can be re-checked by hand.

Who may do what (docs/database-roles.md#backtest-results):

* ``owner`` writes: ``alpha backtest … --save`` is an operator's one-shot command that
  connects directly, like ``alpha data download``.
* ``readonly`` reads (``alpha backtest list|show|compare``, Grafana); ``backup`` reads so
  pg_dump includes the results.
* ``bot``, ``sync``, ``app`` and ``listener`` have no use for research results and get
  nothing, although the ``analytics`` schema's default privileges would give some of
  them ``SELECT``.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    readonly, backup = role("readonly"), role("backup")
    others = ", ".join(role(k) for k in ("listener", "app", "bot", "sync"))
    op.execute(
        f"""
        CREATE TABLE analytics.backtest_runs (
            id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            bot_type       text        NOT NULL,
            config         jsonb       NOT NULL,
            code_version   text        NOT NULL,
            data_source    text        NOT NULL,
            data_from      timestamptz NOT NULL,
            data_to        timestamptz NOT NULL,
            symbols        text[]      NOT NULL,
            interval       text        NOT NULL,
            candles        bigint      NOT NULL CHECK (candles >= 0),
            started_at     timestamptz NOT NULL,
            finished_at    timestamptz NOT NULL,
            initial_equity numeric     NOT NULL,
            final_equity   numeric     NOT NULL,
            net_pnl        numeric     NOT NULL,
            fees           numeric     NOT NULL,
            funding        numeric     NOT NULL,
            trades         integer     NOT NULL CHECK (trades >= 0),
            metrics        jsonb       NOT NULL,
            CHECK (data_from <= data_to),
            CHECK (started_at <= finished_at)
        );
        COMMENT ON TABLE analytics.backtest_runs IS
            'One alpha backtest run: what produced it and what it measured (docs/research.md).';
        COMMENT ON COLUMN analytics.backtest_runs.metrics IS
            'All metrics; money and ratios as decimal strings, never floats.';

        CREATE TABLE analytics.backtest_trades (
            run_id      bigint      NOT NULL
                        REFERENCES analytics.backtest_runs (id) ON DELETE CASCADE,
            seq         integer     NOT NULL CHECK (seq >= 0),
            symbol      text        NOT NULL,
            side        text        NOT NULL CHECK (side IN ('Buy', 'Sell')),
            entry_time  timestamptz NOT NULL,
            exit_time   timestamptz NOT NULL,
            entry_price numeric     NOT NULL,
            exit_price  numeric     NOT NULL,
            qty         numeric     NOT NULL CHECK (qty > 0),
            exit_reason text        NOT NULL,
            gross_pnl   numeric     NOT NULL,
            fees        numeric     NOT NULL,
            funding     numeric     NOT NULL,
            net_pnl     numeric     NOT NULL,
            PRIMARY KEY (run_id, seq),
            CHECK (entry_time <= exit_time),
            CHECK (net_pnl = gross_pnl - fees + funding)
        );
        COMMENT ON TABLE analytics.backtest_trades IS
            'Round trips of a stored backtest run, flat to flat per symbol, exact.';

        REVOKE ALL ON analytics.backtest_runs, analytics.backtest_trades FROM PUBLIC, {others};
        GRANT SELECT ON analytics.backtest_runs, analytics.backtest_trades TO {readonly}, {backup};
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE analytics.backtest_trades, analytics.backtest_runs")
