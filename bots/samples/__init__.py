"""Small sample candle files for ``alpha backtest`` and the benchmark."""
