"""The plugin registry: built-ins load, configs validate with one-line errors."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from core import plugins
from core.errors import UserError
from core.strategy import Strategy

BUILTIN = ["lxalgo", "momentum", "orderblock", "shortseller"]


def test_available_types_lists_the_builtins() -> None:
    assert set(BUILTIN) <= set(plugins.available_types())


@pytest.mark.parametrize("bot_type", BUILTIN)
def test_load_returns_a_strategy_with_a_config_model(bot_type: str) -> None:
    cls = plugins.load(bot_type)
    assert issubclass(cls, Strategy)
    assert issubclass(cls.Config, BaseModel)
    config = plugins.validate_config(bot_type, {})  # every parameter has the spec's default
    strategy = cls(config)
    assert strategy.symbols


def test_entry_point_paths_match_the_builtins() -> None:
    from importlib.metadata import entry_points

    declared = {ep.name: ep.value for ep in entry_points(group=plugins.GROUP)}
    for name, target in plugins.BUILTINS.items():
        assert declared.get(name, target) == target


def test_unknown_type_is_a_user_error_naming_the_known_ones() -> None:
    with pytest.raises(UserError, match=r"unknown bot type 'nope' \(known: .*shortseller"):
        plugins.load("nope")


def test_bad_field_is_named_in_one_line() -> None:
    with pytest.raises(UserError) as exc:
        plugins.validate_config("orderblock", {"pivot_len": 0})
    assert "pivot_len" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(UserError, match="mitigation"):
        plugins.validate_config("orderblock", {"mitigation": "body"})
    with pytest.raises(UserError, match="unknown_field"):
        plugins.validate_config("momentum", {"unknown_field": 1})


def test_shortseller_requires_exit_rows_for_each_symbol() -> None:
    with pytest.raises(UserError, match="XRPUSDT"):
        plugins.validate_config("shortseller", {"symbols": ["XRPUSDT"]})


def test_overrides_keep_decimal_precision() -> None:
    cfg = plugins.validate_config("lxalgo", {"notional_usdt": "150.5", "symbols": ["SOLUSDT"]})
    assert str(cfg.notional_usdt) == "150.5"  # type: ignore[attr-defined]
