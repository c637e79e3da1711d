"""Which bot types exist: the built-ins plus third-party plugins (``alpha.bots`` entry points).

A third-party package exposes a :class:`~core.strategy.Strategy` subclass with::

    [project.entry-points."alpha.bots"]
    mybot = "mypackage.mybot:MyBot"

The built-ins are listed here as well, so they load even from a source tree whose package
metadata is stale; a plugin cannot shadow a built-in name (that would silently change
what an existing registration trades).
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from core.errors import UserError
from core.strategy import Strategy

GROUP = "alpha.bots"

BUILTINS: dict[str, str] = {
    "shortseller": "bots.shortseller:ShortSeller",
    "lxalgo": "bots.lxalgo:LXAlgo",
    "momentum": "bots.momentum:Momentum",
    "orderblock": "bots.orderblock:OrderBlock",
    "webhook": "bots.webhook:Webhook",
}


@cache
def _targets() -> dict[str, str]:
    targets = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    targets.update(BUILTINS)
    return targets


def available_types() -> list[str]:
    """Every loadable bot type name, sorted."""
    return sorted(_targets())


def load(bot_type: str) -> type[Strategy[Any]]:
    """The strategy class of ``bot_type``; a :class:`UserError` for an unknown or broken one."""
    target = _targets().get(bot_type)
    if target is None:
        known = ", ".join(available_types())
        raise UserError(f"unknown bot type {bot_type!r} (known: {known})")
    module_name, _, attr = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"bot type {bot_type!r}: cannot load {target}: {exc}") from None
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        raise UserError(f"bot type {bot_type!r}: {target} is not a core.strategy.Strategy")
    return obj


def validate_config(bot_type: str, config: dict[str, Any] | None) -> BaseModel:
    """``config`` validated against the plugin's model, defaults filled in.

    The ``"risk"`` and ``"notify"`` keys belong to the host (``core.risk.split_config``),
    not to the plugin: they are validated against :class:`core.risk.RiskLimits` and
    :class:`core.notify.NotifySettings` and left out of the returned model (see
    :func:`validate_registration` for the stored form).
    Raises a :class:`UserError` whose one-line message names the first bad field.
    """
    strategy, _limits = _split(bot_type, config)
    cls = load(bot_type)
    try:
        return cls.Config.model_validate(strategy)
    except ValidationError as exc:
        raise UserError(f"invalid config for bot type {bot_type!r}: {describe(exc)}") from None


def validate_registration(bot_type: str, config: dict[str, Any] | None) -> dict[str, Any]:
    """The config to store for a registration: the plugin's part with its defaults filled
    in, plus the ``"risk"`` limits and the ``"notify"`` settings when any were given
    (JSON-ready)."""
    model = validate_config(bot_type, config)
    _strategy, limits = _split(bot_type, config)
    stored = model.model_dump(mode="json")
    risk = limits.model_dump(mode="json", exclude_none=True)
    if risk:
        stored["risk"] = risk
    notify = _notify(bot_type, config).model_dump(mode="json", exclude_defaults=True)
    if notify:
        stored["notify"] = notify
    return stored


def _split(bot_type: str, config: dict[str, Any] | None) -> tuple[dict[str, Any], Any]:
    from core.risk import split_config

    _notify(bot_type, config)
    try:
        return split_config(config)
    except ValidationError as exc:
        detail = describe(exc)
        raise UserError(f"invalid config for bot type {bot_type!r}: risk.{detail}") from None


def _notify(bot_type: str, config: dict[str, Any] | None) -> Any:
    from core.notify import settings_of

    try:
        return settings_of(config)
    except ValidationError as exc:
        detail = describe(exc)
        raise UserError(f"invalid config for bot type {bot_type!r}: notify.{detail}") from None


def describe(exc: ValidationError) -> str:
    """A pydantic error as one line: ``field.path: message`` (+ how many more)."""
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(config)"
    text = f"{where}: {first['msg']}"
    if "input" in first and first["type"] != "missing" and not isinstance(first["input"], dict):
        text += f" (got {first['input']!r})"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return text.replace("\n", " ")
