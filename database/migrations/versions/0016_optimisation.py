"""Stored optimisations: one row per ``alpha optimize`` run, one per trial, one per
walk-forward fold.

Why
---
An optimisation that keeps only its winner hides how it got there: how flat the landscape
was around the best config, how many trials failed, and whether the winner held up on
data the search never saw. Every trial is kept (its parameters, its objective value,
all its metrics) and every fold's in-sample and out-of-sample result beside it.

Who may do what (docs/database-roles.md#backtest-results, same as migration 0015):
``owner`` writes (``alpha optimize`` connects directly, an operator's one-shot command);
``readonly`` and ``backup`` read; ``bot``, ``sync``, ``app`` and ``listener`` get nothing.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

from database.migrations.roles import role

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLES = "analytics.optimisation_runs, analytics.optimisation_folds, analytics.optimisation_trials"


def upgrade() -> None:
    readonly, backup = role("readonly"), role("backup")
    others = ", ".join(role(k) for k in ("listener", "app", "bot", "sync"))
    op.execute(
        f"""
        CREATE TABLE analytics.optimisation_runs (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            bot_type      text        NOT NULL,
            base_config   jsonb       NOT NULL,
            space         jsonb       NOT NULL,
            objective     text        NOT NULL,
            direction     text        NOT NULL CHECK (direction IN ('maximize', 'minimize')),
            sampler       text        NOT NULL,
            trials        integer     NOT NULL CHECK (trials > 0),
            windows       integer     NOT NULL CHECK (windows >= 0),
            code_version  text        NOT NULL,
            data_source   text        NOT NULL,
            data_from     timestamptz NOT NULL,
            data_to       timestamptz NOT NULL,
            symbols       text[]      NOT NULL,
            interval      text        NOT NULL,
            started_at    timestamptz NOT NULL,
            finished_at   timestamptz NOT NULL,
            CHECK (data_from <= data_to),
            CHECK (started_at <= finished_at)
        );
        COMMENT ON TABLE analytics.optimisation_runs IS
            'One alpha optimize run: bot type, space, objective, data (docs/research.md).';

        CREATE TABLE analytics.optimisation_folds (
            run_id        bigint      NOT NULL
                          REFERENCES analytics.optimisation_runs (id) ON DELETE CASCADE,
            fold          integer     NOT NULL CHECK (fold >= 0),
            train_from    timestamptz NOT NULL,
            train_to      timestamptz NOT NULL,
            test_from     timestamptz,
            test_to       timestamptz,
            best_params   jsonb,
            in_sample     numeric,
            out_of_sample numeric,
            out_of_sample_metrics jsonb,
            PRIMARY KEY (run_id, fold)
        );
        COMMENT ON TABLE analytics.optimisation_folds IS
            'Per walk-forward window: the best in-sample config and its out-of-sample value.';

        CREATE TABLE analytics.optimisation_trials (
            run_id   bigint  NOT NULL,
            fold     integer NOT NULL,
            number   integer NOT NULL CHECK (number >= 0),
            params   jsonb   NOT NULL,
            value    numeric,
            metrics  jsonb,
            error    text,
            PRIMARY KEY (run_id, fold, number),
            FOREIGN KEY (run_id, fold)
                REFERENCES analytics.optimisation_folds (run_id, fold) ON DELETE CASCADE
        );
        COMMENT ON COLUMN analytics.optimisation_trials.value IS
            'The objective, exact; NULL when the trial failed (see error, or no defined value).';

        REVOKE ALL ON {TABLES} FROM PUBLIC, {others};
        GRANT SELECT ON {TABLES} TO {readonly}, {backup};
        """
    )


def downgrade() -> None:
    op.execute(f"DROP TABLE {TABLES}")
