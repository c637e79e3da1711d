"""The search space: which config fields vary and over what range.

A ``--space`` SPEC names fields of the bot type's pydantic config, each optionally with a
range: ``ema_fast=5:30,atr_mult=1.0:3.0,stop_pct``. A field named without a range takes
its bounds from the model (``Field(ge=…, le=…)``); a field with no upper bound needs one
in the SPEC, since "anything above 1" is not a range anyone can search.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel

from core.errors import UserError


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    integer: bool  # int fields are searched as integers, Decimal/float ones as reals
    low: Decimal
    high: Decimal

    def suggest(self, trial: Any) -> int | Decimal:
        """Ask an Optuna trial for a value; reals come back as ``Decimal`` of at most 6
        decimals, because configs hold money-like numbers exactly."""
        if self.integer:
            return int(trial.suggest_int(self.name, int(self.low), int(self.high)))
        value = trial.suggest_float(self.name, float(self.low), float(self.high))
        return Decimal(repr(round(value, 6)))


def parse(spec: str, config: type[BaseModel]) -> list[Param]:
    """``spec`` checked against ``config``'s fields; one clear :class:`UserError` when not."""
    params: list[Param] = []
    seen: set[str] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, has_range, bounds = part.partition("=")
        name = name.strip()
        field = config.model_fields.get(name)
        if field is None:
            numeric = sorted(n for n, f in config.model_fields.items() if _kind(f.annotation))
            raise UserError(
                f"--space: {config.__name__} has no field {name!r} (numeric fields: "
                f"{', '.join(numeric)})"
            )
        if name in seen:
            raise UserError(f"--space: {name} is given twice")
        seen.add(name)
        kind = _kind(field.annotation)
        if kind is None:
            raise UserError(f"--space: {name} is not a number field; only numbers are searched")
        low, high = _field_bounds(field.metadata, kind == "int")
        if has_range:
            lo_text, colon, hi_text = bounds.partition(":")
            if not colon:
                raise UserError(f"--space: {part!r}: a range is LOW:HIGH, e.g. {name}=5:30")
            low, high = _number(lo_text, part), _number(hi_text, part)
            if kind == "int" and (low != low.to_integral() or high != high.to_integral()):
                raise UserError(f"--space: {name} is a whole number field; {part!r} is not")
        if low is None or high is None:
            raise UserError(
                f"--space: {name} has no {'lower' if low is None else 'upper'} bound in the"
                f" config; give a range, e.g. {name}=LOW:HIGH"
            )
        if low >= high:
            raise UserError(f"--space: {part!r}: LOW must be below HIGH")
        params.append(Param(name, kind == "int", low, high))
    if not params:
        raise UserError("--space names no field, e.g. --space stop_pct=2:10,bb_period")
    return params


def _kind(annotation: object) -> str | None:
    if annotation is int:
        return "int"
    if annotation in (Decimal, float):
        return "real"
    return None


def _field_bounds(metadata: list[Any], integer: bool) -> tuple[Decimal | None, Decimal | None]:
    """The model's bounds; an exclusive bound moves in by one (ints) or a millionth."""
    step = Decimal(1) if integer else Decimal("0.000001")
    low = high = None
    for m in metadata:
        if isinstance(m, Ge):
            low = Decimal(str(m.ge))
        elif isinstance(m, Gt):
            low = Decimal(str(m.gt)) + step
        elif isinstance(m, Le):
            high = Decimal(str(m.le))
        elif isinstance(m, Lt):
            high = Decimal(str(m.lt)) - step
    return low, high


def _number(text: str, part: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise UserError(f"--space: {part!r}: {text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise UserError(f"--space: {part!r}: {text.strip()!r} is not a number")
    return value
