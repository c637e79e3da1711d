"""The P&L chart: cumulative net P&L (equity curve) over daily net P&L bars, as PNG.

One function, used by ``alpha report pnl --png`` and the Telegram C2's ``/pnl``::

    png: bytes = pnl_chart_png([(date, Decimal net_pnl), ...], "bot_x — net P&L")
    pnl_chart_png(series, title, path=Path("pnl.png"))  # also writes the file

Sums are taken in Decimal; only the plotted coordinates become floats (matplotlib
draws with floats). Agg backend: no display needed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # a container has no display; must precede any pyplot import

import matplotlib.dates as mdates
from matplotlib.figure import Figure


def pnl_chart_png(
    series: Sequence[tuple[date, Decimal]], title: str, path: Path | None = None
) -> bytes:
    """PNG bytes of the equity curve (top) and daily net P&L bars (bottom).

    ``series``: ``(day, net P&L of that day)`` in day order (quote currency). An empty
    series draws an empty chart saying so. Written to ``path`` too when given.
    """
    days = [day for day, _ in series]
    # The curve starts at zero the day before the first P&L, so even one day is a line.
    curve_days = [days[0] - timedelta(days=1), *days] if days else []
    running = Decimal(0)
    equity: list[Decimal] = [running] if days else []
    for _, amount in series:
        running += amount
        equity.append(running)

    fig = Figure(figsize=(9, 5.5), dpi=100)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    fig.suptitle(title)
    if series:
        points = [float(v) for v in equity]
        top.plot(curve_days, points, linewidth=1.6, color="#1f77b4", marker="o", markersize=3)
        top.fill_between(curve_days, points, 0, alpha=0.1, color="#1f77b4")
        top.annotate(
            f"{equity[-1]:,.2f}", (curve_days[-1], points[-1]),
            textcoords="offset points", xytext=(-4, 8), ha="right", fontsize=9,
        )  # fmt: skip
        colours = ["#2ca02c" if v >= 0 else "#d62728" for _, v in series]
        bottom.bar(days, [float(v) for _, v in series], color=colours, width=0.8)
        bottom.set_xlim(curve_days[0] - timedelta(days=0.5), days[-1] + timedelta(days=1))
        span = (days[-1] - curve_days[0]).days
        # Whole-day ticks only (the P&L is daily), at most about eight of them.
        # matplotlib.dates leaves these constructors unannotated.
        locator = mdates.DayLocator(interval=max(1, span // 8))  # type: ignore[no-untyped-call]
        formatter = mdates.DateFormatter("%Y-%m-%d")  # type: ignore[no-untyped-call]
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(formatter)
    else:
        top.text(0.5, 0.5, "no P&L in this period", ha="center", va="center",
                 transform=top.transAxes)  # fmt: skip
    for ax in (top, bottom):
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.grid(True, alpha=0.3)
    top.set_ylabel("cumulative net P&L (USDT)")
    bottom.set_ylabel("daily net (USDT)")
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data
