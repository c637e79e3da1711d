"""Tables for stored backtest runs: ``alpha backtest list``, ``show ID``, ``compare A B``.

Values come from ``analytics.backtest_runs.metrics`` as decimal strings; they are shown
rounded here and stored unrounded there.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bots.backtest.results import StoredRun, StoredTrade


def _dec(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def money(value: object) -> str:
    d = _dec(value)
    return "n/a" if d is None else f"{d:.4f}"


def ratio(value: object) -> str:
    """Three decimals; scientific beyond a million (annualising a short run can give a
    Calmar with thousands of digits)."""
    d = _dec(value)
    if d is None:
        return "n/a"
    return f"{d:.3e}" if abs(d) >= 1_000_000 else f"{d:.3f}"


def percent(value: object) -> str:
    d = _dec(value)
    return "n/a" if d is None else f"{d * 100:.2f}%"


def duration(seconds: object) -> str:
    if seconds is None:
        return "n/a"
    minutes = int(str(seconds)) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return f"{days}d {hours:02}:{minutes:02}"


def _span(run: StoredRun) -> str:
    return f"{run.data_from:%Y-%m-%d %H:%M} … {run.data_to:%Y-%m-%d %H:%M}"


def list_table(runs: list[StoredRun]) -> list[str]:
    lines = [
        f"{'id':>5} {'finished (UTC)':<16} {'type':<11} {'symbols':<24} {'iv':>3} "
        f"{'data (UTC)':<35} {'trades':>6} {'net P&L':>12} {'max DD':>8} {'Sharpe':>8}"
    ]
    for r in runs:
        symbols = ",".join(r.symbols)
        if len(symbols) > 24:
            symbols = symbols[:21] + "..."
        lines.append(
            f"{r.id:>5} {r.finished_at:%Y-%m-%d %H:%M} {r.bot_type:<11} {symbols:<24} "
            f"{r.interval:>3} {_span(r):<35} {r.trades:>6} {money(r.net_pnl):>12} "
            f"{percent(r.metrics.get('max_drawdown_fraction')):>8} "
            f"{ratio(r.metrics.get('sharpe')):>8}"
        )
    return lines


#: The rows of ``show`` and ``compare``: label, how to read it from a run, how to print
#: it, and whether a difference B − A means anything.
Getter = Callable[[StoredRun], object]
ROWS: list[tuple[str, Getter, Callable[[object], str], bool]] = [
    ("initial equity", lambda r: r.initial_equity, money, True),
    ("final equity", lambda r: r.final_equity, money, True),
    ("net P&L", lambda r: r.net_pnl, money, True),
    ("gross P&L", lambda r: r.metrics["gross_pnl"], money, True),
    ("fees", lambda r: r.fees, money, True),
    ("funding", lambda r: r.funding, money, True),
    ("trades", lambda r: r.trades, str, True),
    ("win rate", lambda r: r.metrics["trades"]["win_rate"], percent, True),
    ("profit factor", lambda r: r.metrics["trades"]["profit_factor"], ratio, True),
    ("expectancy", lambda r: r.metrics["trades"]["expectancy"], money, True),
    ("max drawdown", lambda r: r.metrics["max_drawdown"], money, True),
    ("max drawdown %", lambda r: r.metrics["max_drawdown_fraction"], percent, True),
    ("max DD duration", lambda r: r.metrics["max_drawdown_seconds"], duration, False),
    ("Sharpe", lambda r: r.metrics["sharpe"], ratio, True),
    ("Sortino", lambda r: r.metrics["sortino"], ratio, True),
    ("Calmar", lambda r: r.metrics["calmar"], ratio, True),
    ("exposure", lambda r: r.metrics["exposure"], percent, True),
]


def _header(run: StoredRun) -> list[str]:
    funding = "" if run.metrics.get("funding_modelled") else " (not modelled: zero)"
    return [
        f"run {run.id}: {run.bot_type} on {','.join(run.symbols)} ({run.interval}),"
        f" {run.candles} candles",
        f"data          {run.data_source}, {_span(run)} UTC",
        f"code          {run.code_version}",
        f"ran           {run.started_at:%Y-%m-%d %H:%M:%S} … {run.finished_at:%H:%M:%S} UTC",
        f"funding       {money(run.funding)}{funding}",
    ]


def show_lines(run: StoredRun, trades: list[StoredTrade]) -> list[str]:
    import json

    lines = _header(run)
    lines.append(f"config        {json.dumps(run.config, sort_keys=True)}")
    lines.append("")
    for label, get, fmt, _ in ROWS:
        lines.append(f"{label:<16} {fmt(get(run)):>14}")
    per_symbol: dict[str, dict[str, Any]] = run.metrics.get("per_symbol", {})
    if per_symbol:
        lines += [
            "",
            f"{'symbol':<12} {'trades':>6} {'win rate':>9} {'net P&L':>14} {'fees':>12} "
            f"{'funding':>12}",
        ]
        for symbol, s in per_symbol.items():
            lines.append(
                f"{symbol:<12} {s['trades']:>6} {percent(s['win_rate']):>9} "
                f"{money(s['net_pnl']):>14} {money(s['fees']):>12} {money(s['funding']):>12}"
            )
    if trades:
        lines += [
            "",
            f"{'#':>4} {'symbol':<10} {'side':<4} {'entry (UTC)':<16} {'exit (UTC)':<16} "
            f"{'qty':>10} {'entry':>12} {'exit':>12} {'funding':>10} {'net P&L':>12} reason",
        ]
        for t in trades:
            lines.append(
                f"{t.seq + 1:>4} {t.symbol:<10} {t.side:<4} {t.entry_time:%Y-%m-%d %H:%M} "
                f"{t.exit_time:%Y-%m-%d %H:%M} {t.qty:>10} {t.entry_price:>12} "
                f"{t.exit_price:>12} {t.funding:>10.4f} {t.net_pnl:>12.4f} {t.exit_reason}"
            )
    return lines


def compare_lines(a: StoredRun, b: StoredRun) -> list[str]:
    lines = [
        f"A = {_header(a)[0]}",
        f"    {a.data_source}, {_span(a)} UTC, code {a.code_version}",
        f"B = {_header(b)[0]}",
        f"    {b.data_source}, {_span(b)} UTC, code {b.code_version}",
    ]
    if a.bot_type != b.bot_type:
        lines.append("config: different bot types (alpha backtest show ID for each)")
    else:
        keys = a.config.keys() | b.config.keys()
        changed = sorted(key for key in keys if a.config.get(key) != b.config.get(key))
        for key in changed:
            lines.append(f"config {key}: A {a.config.get(key)!r}  B {b.config.get(key)!r}")
        if not changed:
            lines.append("config: the same")
    if a.interval != b.interval:
        lines.append(
            f"note: intervals differ ({a.interval} and {b.interval}): Sharpe, Sortino and"
            " Calmar are annualised from the bar length and do not compare"
        )
    lines += ["", f"{'':<16} {'A':>14} {'B':>14} {'B - A':>14}"]
    for label, get, fmt, subtract in ROWS:
        va, vb = get(a), get(b)
        diff = ""
        if subtract and va is not None and vb is not None:
            diff = fmt(Decimal(str(vb)) - Decimal(str(va)))
        lines.append(f"{label:<16} {fmt(va):>14} {fmt(vb):>14} {diff:>14}")
    return lines
