"""The equity and drawdown chart of a stored backtest run (``alpha backtest show ID
--chart out.png``). matplotlib is imported here only, by this CLI verb: never by a bot
process (tests/bots/e2e/test_e2e_bot_imports.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from bots.backtest.results import StoredRun
from core.errors import UserError


def drawdown_pct(equity: Sequence[Decimal], initial: Decimal) -> list[Decimal]:
    """Per point, how far the equity is below its highest value so far (the initial
    equity is the first peak), in percent of that peak: what the metrics' max drawdown
    is the deepest of."""
    peak, out = initial, []
    for value in equity:
        peak = max(peak, value)
        out.append((peak - value) / peak * 100 if peak > 0 else Decimal(0))
    return out


def write_chart(run: StoredRun, curve: Sequence[tuple[datetime, Decimal]], path: str) -> None:
    """Two panels sharing the time axis: the equity (the initial equity dashed) and the
    drawdown below it, shaded, its deepest point marked."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    times = [t for t, _ in curve]
    equity = [e for _, e in curve]
    dd = drawdown_pct(equity, run.initial_equity)
    fig, (top, bottom) = plt.subplots(
        2, 1, sharex=True, figsize=(11, 6.5), gridspec_kw={"height_ratios": [3, 1.4]}
    )
    top.plot(times, [float(e) for e in equity], color="#1f77b4", linewidth=1.1)
    top.axhline(float(run.initial_equity), color="grey", linestyle="--", linewidth=0.8)
    top.set_ylabel("equity (USDT)")
    top.grid(alpha=0.3)
    symbols = ",".join(run.symbols)
    top.set_title(
        f"run {run.id}: {run.bot_type} on {symbols} ({run.interval}), "
        f"{run.data_from:%Y-%m-%d %H:%M} … {run.data_to:%Y-%m-%d %H:%M} UTC\n"
        f"net P&L {run.net_pnl:.2f} from {run.initial_equity:.2f}, {run.trades} trades",
        fontsize=10,
    )
    bottom.fill_between(times, [-float(d) for d in dd], 0, color="#d62728", alpha=0.35)
    bottom.plot(times, [-float(d) for d in dd], color="#d62728", linewidth=0.8)
    worst = max(range(len(dd)), key=lambda i: dd[i]) if dd else None
    if worst is not None and dd[worst] > 0:
        bottom.annotate(
            f"max {dd[worst]:.2f}%",
            (times[worst], -float(dd[worst])),
            textcoords="offset points",
            xytext=(6, -2),
            fontsize=9,
        )
    bottom.set_ylabel("drawdown (%)")
    bottom.grid(alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        fig.savefig(Path(path), dpi=110)
    except OSError as exc:
        raise UserError(f"--chart {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
