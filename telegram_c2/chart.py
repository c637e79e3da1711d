"""The /pnl equity chart as PNG bytes.

Interim until ``database/reports/charts.py`` (shared with ``alpha report``) lands. The
running total is summed in Decimal; only the plotted coordinates become floats, because
matplotlib draws with floats — no amount shown in text ever goes through float.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")  # no display in a container; must precede pyplot's import

from matplotlib import pyplot as plt
from matplotlib.figure import Figure


def equity_chart_png(series: list[tuple[date, Decimal]], title: str) -> bytes:
    days = [day for day, _ in series]
    running = Decimal(0)
    equity: list[Decimal] = []
    for _, amount in series:
        running += amount
        equity.append(running)
    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.add_subplot()
    ax.plot(days, [float(v) for v in equity], marker="o", linewidth=1.5)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_title(title)
    ax.set_ylabel("cumulative net P&L (USDT)")
    ax.grid(True, alpha=0.3)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close("all")
    return buf.getvalue()
