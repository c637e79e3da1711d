"""The simulated clock and the candles that drive prices."""
