"""The bundled strategy bots (plugins of the host, see :mod:`core.strategy`) and the backtester."""
