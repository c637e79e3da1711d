"""The risk gate: exits always pass; entries stop at the state, the kill flag and the limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.risk import BotState, RiskGate, RiskLimits, split_config
from core.strategy import EnterLimit, EnterMarket, ExitMarket, PlaceStop, PositionView, Reason
from core.strategy import TriggerDirection as Dir

ENTRY = EnterMarket("e", "BTCUSDT", "Buy", Decimal("0.1"))
EXIT = ExitMarket("x", "BTCUSDT", "Sell", Decimal("0.1"))
STOP = PlaceStop("s", "BTCUSDT", "Sell", Decimal("0.1"), Decimal("59000"), Dir.FALL)
PRICES = {"BTCUSDT": Decimal("60000"), "ETHUSDT": Decimal("3000")}


def check(gate: RiskGate, intent, *, state=BotState.RUNNING, killed=False, positions=None):
    return gate.check(
        intent,
        state=state,
        killed=killed,
        halted=None,
        positions=positions or {},
        prices=PRICES,
    )


def test_paused_bots_manage_exits_but_enter_nothing() -> None:
    gate = RiskGate(RiskLimits())
    assert not check(gate, ENTRY, state=BotState.PAUSED)
    assert check(gate, EXIT, state=BotState.PAUSED) and check(gate, STOP, state=BotState.PAUSED)


def test_stopped_bots_send_nothing_at_all() -> None:
    gate = RiskGate(RiskLimits())
    for intent in (ENTRY, EXIT, STOP):
        verdict = check(gate, intent, state=BotState.STOPPED)
        assert not verdict and verdict.rule == "stopped"


def test_the_kill_flag_refuses_entries_only() -> None:
    gate = RiskGate(RiskLimits())
    verdict = check(gate, ENTRY, killed=True)
    assert not verdict and verdict.rule == "kill_flag"
    assert check(gate, EXIT, killed=True)


@pytest.mark.parametrize(
    ("limits", "positions", "rule"),
    [
        ({"max_notional_per_symbol": "5000"}, {}, "max_notional_per_symbol"),
        (
            {"max_total_notional": "7000"},
            {"ETHUSDT": PositionView("ETHUSDT", Decimal("1"), Decimal("3000"))},
            "max_total_notional",
        ),
        (
            {"max_open_positions": 1},
            {"ETHUSDT": PositionView("ETHUSDT", Decimal("-1"), Decimal("3000"))},
            "max_open_positions",
        ),
    ],
)
def test_each_limit_refuses_with_its_own_rule(limits, positions, rule) -> None:
    gate = RiskGate(RiskLimits.model_validate(limits))
    verdict = check(gate, ENTRY, positions=positions)  # 0.1 × 60000 = 6000 notional
    assert not verdict and verdict.rule == rule


def test_within_limits_passes_and_limit_prices_count() -> None:
    gate = RiskGate(RiskLimits(max_notional_per_symbol=Decimal("6000")))
    assert check(gate, ENTRY)
    assert not check(
        gate, EnterLimit("l", "BTCUSDT", "Buy", Decimal("0.1"), Decimal("61000")), positions={}
    )


def test_risk_limits_are_split_from_the_strategy_config() -> None:
    strategy, limits = split_config({"symbols": ["BTCUSDT"], "risk": {"max_open_positions": 2}})
    assert strategy == {"symbols": ["BTCUSDT"]}
    assert limits.max_open_positions == 2
    with pytest.raises(ValueError, match="max_open_positions"):
        split_config({"risk": {"max_open_positions": 0}})
    assert Reason.KILL.value == "ks"


def test_the_account_cap_counts_every_bot_on_the_account() -> None:
    gate = RiskGate(RiskLimits(max_account_notional=Decimal("10000")))
    verdict = gate.check(
        ENTRY, state=BotState.RUNNING, killed=False, halted=None, positions={}, prices=PRICES,
        account_notional=lambda: Decimal("4500"),  # other bots' positions: 4,500 + 6,000
    )  # fmt: skip
    assert not verdict and verdict.rule == "max_account_notional"
    assert gate.check(
        ENTRY, state=BotState.RUNNING, killed=False, halted=None, positions={}, prices=PRICES,
        account_notional=lambda: Decimal("4000"),
    )  # fmt: skip


def test_a_loss_limit_halt_refuses_entries_only() -> None:
    gate = RiskGate(RiskLimits())
    halt = "daily loss 3.10% from 10000 at 00:00 UTC ≥ 3%"
    kw = {"state": BotState.RUNNING, "killed": False, "halted": halt, "positions": {},
          "prices": PRICES}  # fmt: skip
    verdict = gate.check(ENTRY, **kw)
    assert not verdict and verdict.rule == "loss_limit" and verdict.detail == halt
    assert gate.check(EXIT, **kw) and gate.check(STOP, **kw)
