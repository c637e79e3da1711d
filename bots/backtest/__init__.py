"""Backtesting: the strategy code, unchanged, over closed candles with a simple fill model."""

from bots.backtest.engine import MAKER_FEE, TAKER_FEE, Backtest, BacktestResult, RoundTrip

__all__ = ["MAKER_FEE", "TAKER_FEE", "Backtest", "BacktestResult", "RoundTrip"]
