"""What a running bot takes live from an updated registration (bots/runtime/reload.py):
the plan only, no services (the e2e test runs it on the paper exchange)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from bots.runtime.registration import Registration
from bots.runtime.reload import plan
from bots.shortseller.strategy import ShortSeller
from core.ids import AccountName, BotCode, BotId

EXITS = {"stop_loss_pct": "1", "take_profit_pct": "3", "trailing_distance_pct": "1",
         "trailing_activation_pct": "2"}  # fmt: skip


def _reg(**config: Any) -> Registration:
    symbols = config.get("symbols", ["BTCUSDT"])
    full = {"symbols": symbols, "exits": {s: EXITS for s in symbols}, **config}
    return Registration(
        BotId("ss1"), BotCode("ss1"), "shortseller", "active", "paper", AccountName("main"),
        None, tuple(symbols), full, Decimal(1000),
    )  # fmt: skip


def test_a_new_symbol_joins_live_and_a_removed_one_leaves_entries_only() -> None:
    old = _reg(symbols=["BTCUSDT", "ETHUSDT"])
    strategy = ShortSeller({k: v for k, v in old.config.items()})
    p = plan(old, _reg(symbols=["BTCUSDT", "SOLUSDT"]), strategy)
    assert p.restart == []
    assert (p.joined, p.left) == (["SOLUSDT"], ["ETHUSDT"])
    assert "symbols +SOLUSDT -ETHUSDT" in p.changes
    assert p.config is not None
    strategy.reconfigure(p.config)  # type: ignore[arg-type]
    assert set(strategy.assets) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}  # ETH still managed
    assert "ETHUSDT" in strategy.config.exits and strategy.symbols == ["BTCUSDT", "SOLUSDT"]


def test_capital_interval_and_indicator_periods_need_a_restart() -> None:
    old = _reg()
    strategy = ShortSeller(dict(old.config))
    assert plan(old, replace(old, initial_capital=Decimal(2000)), strategy).restart == [
        'initial_capital "1000" -> "2000"'
    ]
    p = plan(old, _reg(interval="15", ema_fast=10), strategy)
    assert p.restart == [
        "config.ema_fast (not applied live by shortseller)",
        "config.interval (not applied live by shortseller)",
    ]
    nothing = plan(old, replace(old, status="paused"), strategy)
    assert (nothing.restart, nothing.changes) == ([], [])
