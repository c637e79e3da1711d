"""A backtest applies the live host's rules through the host's own code
(``bots/backtest/rules.py``): the risk gate's exposure caps, the loss limits (daily loss
and drawdown) and a universe rule from the candles' turnover (LXAlgo's)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pydantic import Field

from bots.backtest.engine import Backtest
from bots.backtest.rules import HostRules
from bots.lxalgo.strategy import select_universe
from core import plugins
from core.candles import Candle
from core.risk import RiskLimits
from core.strategy import EnterMarket, Intent, Strategy, StrategyConfig, StrategyContext

T0 = datetime(2025, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


class EveryBarConfig(StrategyConfig):
    symbols: list[str] = Field(default_factory=lambda: ["AAAUSDT", "BBBUSDT"])
    interval: str = "60"
    #: A universe rule (LXAlgo's): 24 h turnover above this, re-selected every 4 hours.
    min_turnover_24h: Decimal | None = None


class EveryBar(Strategy[EveryBarConfig]):
    """Buys one unit of every symbol on every bar; records what the host refused."""

    Config = EveryBarConfig

    def __init__(self, config: EveryBarConfig) -> None:
        super().__init__(config)
        self.rejected: list[tuple[str, str, datetime]] = []

    def on_candle(self, candle: Candle, ctx: StrategyContext) -> list[Intent]:
        return [EnterMarket(ctx.new_id(), candle.symbol, "Buy", Decimal(1))]

    def on_rejected(self, intent: Intent, reason: str, ctx: StrategyContext) -> list[Intent]:
        self.rejected.append((intent.symbol, reason, ctx.now))
        return []

    def universe_refresh(self) -> timedelta | None:
        return None if self.config.min_turnover_24h is None else 4 * HOUR

    def select_universe(self, turnover_24h: Mapping[str, Decimal]) -> list[str]:
        assert self.config.min_turnover_24h is not None
        return select_universe(turnover_24h, self.config.min_turnover_24h)


def bars(symbol: str, prices: list[int], turnover: int = 0, first: int = 0) -> list[Candle]:
    return [
        Candle(symbol, "60", T0 + i * HOUR, *(Decimal(p),) * 4, Decimal(1), Decimal(turnover))
        for i, p in enumerate(prices, first)
    ]


def run(
    strategy: EveryBar, candles: list[Candle], warmup: int = 0, **limits: object
) -> tuple[Backtest, HostRules]:
    rules = HostRules(strategy, RiskLimits.model_validate(limits))
    bt = Backtest(strategy, initial_equity=Decimal(1000), taker_fee=Decimal(0), rules=rules)
    candles.sort(key=lambda c: (c.start, c.symbol))
    bt.run(candles, warmup=warmup)
    return bt, rules


def test_exposure_caps_refuse_entries_and_tell_the_strategy() -> None:
    strategy = EveryBar(EveryBarConfig())
    # BBB's candles start at bar 2, when AAA is already held.
    candles = bars("AAAUSDT", [100] * 6) + bars("BBBUSDT", [10] * 4, first=2)
    bt, rules = run(strategy, candles, max_notional_per_symbol="250", max_open_positions=1)
    held = {s: sum(f.qty for f in bt.fills if f.symbol == s) for s in ("AAAUSDT", "BBBUSDT")}
    # AAA: 2 units (200) fit under 250, a third would not; BBB never opens (one position).
    assert held == {"AAAUSDT": Decimal(2), "BBBUSDT": Decimal(0)}
    assert rules.refused == {"max_notional_per_symbol": 4, "max_open_positions": 4}
    assert ("BBBUSDT", "max_open_positions", T0 + 3 * HOUR) in strategy.rejected


def test_a_drawdown_halts_entries_for_the_rest_of_the_run() -> None:
    strategy = EveryBar(EveryBarConfig(symbols=["AAAUSDT"]))
    # Buys 1 at every bar's open from bar 1; the price falls 100 → 50 at bar 3.
    candles = bars("AAAUSDT", [100, 100, 100, 50, 50, 50, 60, 70])
    bt, rules = run(strategy, candles, max_drawdown_pct="5")
    # Bars 0-2 entries fill (at bars 1-3's opens); after bar 3's close the equity is
    # 1000 − 3 × 50 (a 15 % drawdown): halted, every later entry refused.
    assert [f.exec_time for f in bt.fills] == [T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    assert rules.halts == 1
    assert {r for _, r, _ in strategy.rejected} == {"loss_limit"}
    assert len(strategy.rejected) == 5  # bars 3-7


def test_a_daily_loss_halt_lifts_at_the_next_utc_day() -> None:
    strategy = EveryBar(EveryBarConfig(symbols=["AAAUSDT"]))
    prices = [100] * 20 + [80] * 4 + [80] * 4  # falls at 20:00; the next day starts at bar 24
    bt, rules = run(strategy, bars("AAAUSDT", prices), max_daily_loss_pct="10")
    refused_at = [t for _, _, t in strategy.rejected]
    assert refused_at and all(t.day == 1 for t in refused_at[:-1])
    assert min(refused_at) == T0 + 21 * HOUR  # the first bar at 80 closes at 21:00
    # After midnight the day's opening equity is the new anchor: entries pass again.
    assert max(f.exec_time for f in bt.fills) >= T0 + 25 * HOUR
    assert rules.halts == 1


def test_the_universe_rule_selects_from_the_candles_turnover() -> None:
    strategy = EveryBar(EveryBarConfig(min_turnover_24h=Decimal(150)))
    # AAA trades 100 an hour, BBB 10: after two warm-up bars of each (four candles), the
    # first selection at bar 2's open knows 200 and 20: only AAA is in the universe.
    candles = bars("AAAUSDT", [100] * 10, turnover=100) + bars("BBBUSDT", [10] * 10, turnover=10)
    bt, rules = run(strategy, candles, warmup=4)
    assert rules.universe.current == ["AAAUSDT"]
    assert {f.symbol for f in bt.fills} == {"AAAUSDT"}
    assert {(s, r) for s, r, _ in strategy.rejected} == {("BBBUSDT", "universe")}


def test_lxalgo_in_a_backtest_keeps_its_turnover_universe() -> None:
    """The real LXAlgo strategy: its universe, re-selected every 4 hours from the last
    24 hours of turnover, follows the turnover of the candles fed."""
    config = plugins.validate_config(
        "lxalgo",
        {"symbols": ["AAAUSDT", "BBBUSDT"], "interval": "60", "min_turnover_24h": "1000"},
    )
    strategy = plugins.load("lxalgo")(config)
    # BBB trades a lot for the first day, then nothing; AAA the other way round.
    a = bars("AAAUSDT", [100] * 48, turnover=0)[:24] + bars("AAAUSDT", [100] * 48, 200)[24:]
    b = bars("BBBUSDT", [10] * 48, turnover=200)[:24] + bars("BBBUSDT", [10] * 48, 0)[24:]
    rules = HostRules(strategy, None)
    seen: list[list[str]] = []
    original = rules.universe.select

    def select(now: datetime, turnover: dict[str, Decimal]) -> list[str]:
        joined = original(now, turnover)
        seen.append(list(rules.universe.current))
        return joined

    rules.universe.select = select  # type: ignore[method-assign]
    Backtest(strategy, rules=rules).run(sorted(a + b, key=lambda c: (c.start, c.symbol)))
    assert seen[0] == [] and ["BBBUSDT"] in seen and seen[-1] == ["AAAUSDT"]
    assert len(seen) == 12  # at the start, then every 4 hours of the 48


def test_the_cli_takes_the_hosts_risk_limits_from_config(capsys) -> None:
    """``alpha backtest --config '{"risk": …}'``: the registration's risk object limits
    the backtest (fewer trades, the refusals counted); a bad limit is one line."""
    from pathlib import Path

    from core.cli import main

    sample = Path(__file__).resolve().parents[2] / "bots" / "samples" / "btcusdt_15m.csv"

    def trades(config: str) -> tuple[int, str]:
        assert main(["backtest", "orderblock", "--candles", str(sample), "--quiet",
                     "--config", config]) == 0  # fmt: skip
        out = capsys.readouterr().out
        return int(out.split("trades", 1)[1].split()[0]), out

    free, out = trades("{}")
    assert "host rules" not in out
    capped, out = trades('{"risk": {"max_notional_per_symbol": "1"}}')
    assert free > 0 and capped == 0
    assert "intents refused: " in out and "by max_notional_per_symbol" in out

    assert main(["backtest", "orderblock", "--candles", str(sample),
                 "--config", '{"risk": {"max_drawdown_pct": 200}}']) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert "--config risk: max_drawdown_pct" in err and err.count("\n") == 1
