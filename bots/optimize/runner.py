"""The search: Optuna asks for parameters, worker processes backtest them, Optuna is told.

Why processes: the backtest loop is pure Python holding the GIL for its whole run, so
threads would take turns on one core. The parent owns the study (ask/tell) and the
workers only run backtests; they get the candles once, when the pool forks, instead of
with every trial. A trial's config is validated by the bot type's model in the parent, so
a combination the model refuses (e.g. a fast period above the slow one) is a failed
trial, not a crash.

Walk-forward (``windows > 0``): the candles are cut by time into ``windows + 1`` equal
spans; fold ``i`` searches on span ``i`` (in-sample) and backtests its best config on
span ``i + 1`` (out-of-sample, never seen by the search). Each fold is a study of its own.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from bots.backtest.engine import Backtest
from bots.backtest.metrics import compute
from bots.optimize import objectives
from bots.optimize.space import Param
from core.candles import INTERVAL_SECONDS, Candle
from core.risk import RiskLimits


@dataclass(frozen=True, slots=True)
class Job:
    """Everything a worker needs besides the candles."""

    bot_type: str
    objective: str
    equity: Decimal
    funding: dict[str, list[tuple[datetime, Decimal]]] | None
    #: The host's limits from the config's ``"risk"`` (none: the defaults, as a
    #: registration without ``"risk"`` runs under).
    limits: RiskLimits | None = None


@dataclass(slots=True)
class Trial:
    fold: int
    number: int
    params: dict[str, Any]
    value: Decimal | None  # None: failed (invalid config, or the metric is undefined)
    metrics: dict[str, Any] | None
    error: str | None = None


@dataclass(slots=True)
class Fold:
    number: int
    train: tuple[datetime, datetime]
    test: tuple[datetime, datetime] | None
    best_params: dict[str, Any] | None = None
    in_sample: Decimal | None = None
    out_of_sample: Decimal | None = None
    out_of_sample_metrics: dict[str, Any] | None = None
    trials: list[Trial] = field(default_factory=list)


# Set in the parent before the pool forks; the workers read them (never written after).
_JOB: Job | None = None
_CANDLES: list[Candle] = []


def split(candles: Sequence[Candle], windows: int) -> list[tuple[int, int]]:
    """``windows + 1`` index ranges of equal time length (bar times, all symbols kept
    together); ``windows = 0`` is the whole range."""
    times = sorted({c.start for c in candles})
    parts = windows + 1
    if len(times) < 2 * parts:
        from core.errors import UserError

        raise UserError(
            f"--walk-forward {windows}: {len(times)} bar time(s) cannot make {parts} windows"
        )
    cuts = [times[len(times) * k // parts] for k in range(parts)] + [None]
    ranges, i = [], 0
    for k in range(parts):
        j = i
        end = cuts[k + 1]
        while j < len(candles) and (end is None or candles[j].start < end):
            j += 1
        ranges.append((i, j))
        i = j
    return ranges


def evaluate(config: dict[str, Any], span: tuple[int, int]) -> tuple[str | None, dict[str, Any]]:
    """One backtest of ``config`` over ``_CANDLES[span]`` (in a worker): the objective as
    a decimal string (``None`` when undefined) and every metric. The trial runs under the
    host's rules (risk gate, loss limits, universe) exactly as ``alpha backtest`` does,
    through the same :class:`bots.backtest.rules.HostRules`, so a config is not chosen
    for trades the host would have refused."""
    from bots.backtest.rules import HostRules
    from core import plugins

    assert _JOB is not None
    candles = _CANDLES[span[0] : span[1]]
    cls = plugins.load(_JOB.bot_type)
    model = plugins.validate_config(_JOB.bot_type, config)
    strategy = cls(model)
    result = Backtest(
        strategy,
        initial_equity=_JOB.equity,
        funding=_JOB.funding,
        keep_fills=False,
        rules=HostRules(strategy, _JOB.limits),
    ).run(candles)
    interval: str = model.interval  # type: ignore[attr-defined]
    metrics = compute(result, INTERVAL_SECONDS[interval])
    score = objectives.value(_JOB.objective, metrics)
    return (None if score is None else str(score)), metrics.to_json()


def _init(job: Job, candles: list[Candle]) -> None:
    global _JOB, _CANDLES
    _JOB, _CANDLES = job, candles


def optimise(
    job: Job,
    candles: list[Candle],
    base: dict[str, Any],
    space: list[Param],
    trials: int,
    windows: int,
    sampler: str,
    jobs: int,
    seed: int | None,
    validate: Callable[[dict[str, Any]], str | None],
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> list[Fold]:
    """Run the search; one :class:`Fold` per walk-forward window (one in all without)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = objectives.check(job.objective)
    spans = split(candles, windows)
    folds: list[Fold] = []
    _init(job, candles)
    # fork: the workers inherit the candles and the imported code without pickling them.
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        for number in range(max(windows, 1)):
            train = spans[number]
            test = spans[number + 1] if windows else None
            fold = Fold(
                number,
                (candles[train[0]].start, candles[train[1] - 1].end),
                None if test is None else (candles[test[0]].start, candles[test[1] - 1].end),
            )
            study = optuna.create_study(
                direction=direction, sampler=_sampler(sampler, seed, trials)
            )
            label = f"fold {number + 1}/{windows} " if windows else ""
            _search(study, pool, fold, base, space, trials, jobs, train, validate, label, progress)
            best = [t for t in fold.trials if t.value is not None]
            if best:
                pick = (max if direction == "maximize" else min)(
                    best, key=lambda t: (t.value, -t.number)
                )
                fold.best_params, fold.in_sample = pick.params, pick.value
                if test is not None:
                    value, metrics = pool.submit(evaluate, {**base, **pick.params}, test).result()
                    fold.out_of_sample = None if value is None else Decimal(value)
                    fold.out_of_sample_metrics = metrics
            folds.append(fold)
    return folds


def _search(
    study: Any,
    pool: ProcessPoolExecutor,
    fold: Fold,
    base: dict[str, Any],
    space: list[Param],
    trials: int,
    jobs: int,
    span: tuple[int, int],
    validate: Callable[[dict[str, Any]], str | None],
    label: str,
    progress: Callable[[str], None],
) -> None:
    """Ask/tell with up to ``jobs`` backtests in flight."""
    from optuna.trial import TrialState

    running: dict[Future[tuple[str | None, dict[str, Any]]], tuple[Any, dict[str, Any]]] = {}
    asked = done = 0
    best: Decimal | None = None
    while done < trials:
        while asked < trials and len(running) < jobs:
            trial = study.ask()
            asked += 1
            params = {p.name: p.suggest(trial) for p in space}
            problem = validate({**base, **params})
            if problem is not None:
                study.tell(trial, state=TrialState.FAIL)
                fold.trials.append(Trial(fold.number, trial.number, params, None, None, problem))
                done += 1
                continue
            running[pool.submit(evaluate, {**base, **params}, span)] = (trial, params)
        if not running:
            continue
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            trial, params = running.pop(future)
            error = None
            try:
                text, metrics = future.result()
            except Exception as exc:  # the strategy raised: a failed trial, kept with why
                text, metrics, error = None, None, f"{type(exc).__name__}: {exc}"
            value = None if text is None else Decimal(text)
            if value is None:
                study.tell(trial, state=TrialState.FAIL)
            else:
                study.tell(trial, float(value))
                if best is None or (value > best) == (study.direction.name == "MAXIMIZE"):
                    best = value
            fold.trials.append(Trial(fold.number, trial.number, params, value, metrics, error))
            done += 1
            progress(
                f"{label}trial {done}/{trials}: {_show(params)} → {error or _num(value)}"
                f" (best {_num(best)})"
            )
    fold.trials.sort(key=lambda t: t.number)


def _num(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _show(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in params.items())


def _sampler(name: str, seed: int | None, trials: int) -> Any:
    """NSGA-II's population is a fifth of the trials (4 to 50): with Optuna's fixed 50, a
    search of fewer than 100 trials would never breed a second generation and would be
    random sampling under another name."""
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(
            population_size=min(50, max(4, trials // 5)), seed=seed
        )
    from core.errors import UserError

    raise UserError(f"--sampler {name!r} is not one of: tpe, nsga2")
