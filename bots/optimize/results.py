"""``analytics.optimisation_runs``/``_folds``/``_trials`` (migration 0016): every trial of
an ``alpha optimize`` run, written by the owner in one transaction. Values are exact."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bots.optimize.runner import Fold


@dataclass(frozen=True, slots=True)
class RunRecord:
    bot_type: str
    base_config: dict[str, Any]
    space: dict[str, Any]
    objective: str
    direction: str
    sampler: str
    trials: int
    windows: int
    code_version: str
    data_source: str
    data_from: datetime
    data_to: datetime
    symbols: list[str]
    interval: str
    started_at: datetime
    finished_at: datetime


def save(conn: psycopg.Connection[Any], run: RunRecord, folds: list[Fold]) -> int:
    with conn.transaction():
        row = conn.execute(
            """
            INSERT INTO analytics.optimisation_runs (
                bot_type, base_config, space, objective, direction, sampler, trials, windows,
                code_version, data_source, data_from, data_to, symbols, interval,
                started_at, finished_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            RETURNING id
            """,
            (
                run.bot_type, Jsonb(run.base_config), Jsonb(run.space), run.objective,
                run.direction, run.sampler, run.trials, run.windows, run.code_version,
                run.data_source, run.data_from, run.data_to, run.symbols, run.interval,
                run.started_at, run.finished_at,
            ),
        ).fetchone()  # fmt: skip
        assert row is not None
        run_id = int(row[0])
        with conn.cursor() as cur:
            for f in folds:
                cur.execute(
                    "INSERT INTO analytics.optimisation_folds (run_id, fold, train_from,"
                    " train_to, test_from, test_to, best_params, in_sample, out_of_sample,"
                    " out_of_sample_metrics) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        run_id, f.number, f.train[0], f.train[1],
                        None if f.test is None else f.test[0],
                        None if f.test is None else f.test[1],
                        None if f.best_params is None else Jsonb(_json(f.best_params)),
                        f.in_sample, f.out_of_sample,
                        None if f.out_of_sample_metrics is None else Jsonb(f.out_of_sample_metrics),
                    ),
                )  # fmt: skip
                cur.executemany(
                    "INSERT INTO analytics.optimisation_trials (run_id, fold, number, params,"
                    " value, metrics, error) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            run_id, t.fold, t.number, Jsonb(_json(t.params)), t.value,
                            None if t.metrics is None else Jsonb(t.metrics), t.error,
                        )
                        for t in f.trials
                    ],
                )  # fmt: skip
    return run_id


def _json(params: dict[str, Any]) -> dict[str, Any]:
    """Decimals as strings, so a stored parameter keeps its digits."""
    return {k: v if isinstance(v, int) else str(v) for k, v in params.items()}
