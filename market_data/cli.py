"""``alpha data``: download exchange history into the store, show what it holds."""

from __future__ import annotations

import argparse
import re
import sys

from core.cli import Cli
from core.errors import UserError

_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")


def parse_symbols(text: str) -> list[str]:
    """``BTCUSDT,ethusdt`` → ``["BTCUSDT", "ETHUSDT"]``, each once, in the given order."""
    symbols: list[str] = []
    for part in text.split(","):
        symbol = part.strip().upper()
        if not _SYMBOL.match(symbol):
            raise UserError(
                f"{part.strip()!r} is not a symbol (comma-separated, e.g. BTCUSDT,ETHUSDT)"
            )
        if symbol not in symbols:
            symbols.append(symbol)
    return symbols


def _exchange_error(exc: BaseException, url: str) -> UserError | None:
    from core.exchange.rest import classify

    info = classify(exc)
    if info is None:
        return None
    if info.kind == "network":
        return UserError(f"cannot reach the exchange at {url}: {info.message}")
    return UserError(f"the exchange refused the request: {info}")


def _download(args: argparse.Namespace) -> int:
    from bots.runtime.market import server_now
    from core.candles import EXCHANGE_NAMES
    from core.config import Role, load_settings
    from core.db import connect
    from core.exchange.client import endpoints, make_http
    from market_data.download import download
    from market_data.spans import check_interval, parse_date

    symbols = parse_symbols(args.symbols)
    check_interval(args.interval)
    start = parse_date(args.start, "--from")
    end = parse_date(args.end, "--to")
    if start >= end:
        raise UserError(f"--from {args.start} is not before --to {args.end}")
    settings = load_settings()
    exchange = EXCHANGE_NAMES[settings.bybit.env]
    http = make_http(settings, None)
    url = endpoints(settings).rest or "Bybit"
    progress = sys.stderr if sys.stderr.isatty() and not args.quiet else None
    try:
        now = server_now(http)
        with connect(settings, Role.OWNER, direct=True) as conn:
            candles, rates = download(
                http,
                conn,
                exchange,
                symbols,
                args.interval,
                start,
                end,
                now,
                funding=not args.no_funding,
                progress=progress,
            )
    except Exception as exc:
        error = _exchange_error(exc, url)
        if error is None:
            raise
        raise error from None
    gaps = 0
    for r in candles:
        print(
            f"{exchange} {r.symbol} {r.interval}: {r.wanted} closed bars in range, "
            f"{r.missing} missing, {r.fetched} fetched in {r.pages} page(s): "
            f"{r.written.inserted} new, {r.written.updated} changed"
        )
        if r.gaps:
            gaps += 1
            shown = ", ".join(f"{g} ({g.bars} bars)" for g in r.gaps[:5])
            more = f" and {len(r.gaps) - 5} more" if len(r.gaps) > 5 else ""
            print(
                f"  gaps: the exchange has no candle for {r.gap_bars} bar(s) in "
                f"{len(r.gaps)} run(s): {shown}{more}"
            )
    for f in rates:
        print(
            f"{exchange} {f.symbol} funding: {f.fetched} settlement(s) fetched: "
            f"{f.written.inserted} new, {f.written.updated} changed"
        )
    return 3 if gaps and args.strict else 0


def _collect(args: argparse.Namespace) -> int:
    import threading

    from core.config import load_settings
    from core.service import install_signal_handlers
    from market_data.collect import Collector
    from market_data.spans import check_interval

    symbols = parse_symbols(args.symbols)
    check_interval(args.interval)
    settings = load_settings()
    stop = threading.Event()
    install_signal_handlers(stop)
    collector = Collector(settings, symbols, args.interval)
    collector.run(stop)
    print(f"{collector.received} closed candle(s) received, {collector.inserted} new to the store")
    return 0


def _show(args: argparse.Namespace) -> int:
    from core.config import Role, load_settings
    from core.db import connect
    from market_data import store

    symbol = parse_symbols(args.symbol)[0] if args.symbol else None
    if args.interval is not None:
        from market_data.spans import check_interval

        check_interval(args.interval)
    settings = load_settings()
    with connect(settings, Role.READONLY) as conn:
        series = store.coverage(conn, symbol=symbol, interval=args.interval)
        funding = store.funding_coverage(conn, symbol=symbol)
    if not series and not funding:
        print("the store holds no market data" + (f" for {symbol}" if symbol else ""))
        return 0
    for c in series:
        holes = sum(h.bars for h in c.holes)
        print(
            f"{c.exchange} {c.symbol} {c.interval}: {c.candles} candles "
            f"{c.first:%Y-%m-%d %H:%M} … {c.last:%Y-%m-%d %H:%M} UTC, "
            + (f"{holes} bar(s) missing in {len(c.holes)} hole(s)" if c.holes else "no holes")
        )
        if args.gaps:
            for h in c.holes:
                print(f"  hole {h} ({h.bars} bars)")
    for ex, sym, n, first, last in funding:
        print(f"{ex} {sym} funding: {n} settlements {first:%Y-%m-%d %H:%M} … {last:%Y-%m-%d %H:%M}")
    return 0


def register(cli: Cli) -> None:
    p = cli.command(
        "data",
        "download",
        "fetch closed candles (and funding rates) from the exchange's public REST history"
        " into market.candles, fetching only what the store lacks",
        _download,
    )
    p.add_argument("symbols", metavar="SYMBOLS", help="comma-separated, e.g. BTCUSDT,ETHUSDT")
    p.add_argument(
        "--interval",
        required=True,
        metavar="I",
        help="Bybit interval: 1 3 5 15 30 60 120 240 360 720 (minutes), D or W",
    )
    p.add_argument(
        "--from",
        dest="start",
        required=True,
        metavar="DATE",
        help="first day (YYYY-MM-DD) or moment (YYYY-MM-DDTHH:MM), UTC, included",
    )
    p.add_argument(
        "--to",
        dest="end",
        required=True,
        metavar="DATE",
        help="end of the range, UTC, excluded; bars still forming are never stored",
    )
    p.add_argument("--no-funding", action="store_true", help="skip the funding-rate history")
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 3 when the exchange's history has gaps (default: report them, exit 0)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    c = cli.command(
        "data",
        "collect",
        "subscribe to the exchange's public kline topics and insert each closed candle into"
        " market.candles until stopped (SIGTERM, Ctrl-C); runs as the collector role",
        _collect,
    )
    c.epilog = (
        "Only closed bars (confirm=true) are stored, once each; a bar already stored is left"
        " alone. Bars closed while the connection was down are not fetched: alpha data"
        " download fills those holes."
    )
    c.add_argument("symbols", metavar="SYMBOLS", help="comma-separated, e.g. BTCUSDT,ETHUSDT")
    c.add_argument(
        "--interval",
        required=True,
        metavar="I",
        help="Bybit interval: 1 3 5 15 30 60 120 240 360 720 (minutes), D or W",
    )

    s = cli.command(
        "data", "show", "what the market data store holds: ranges and holes per series", _show
    )
    s.add_argument("--symbol", help="only this symbol")
    s.add_argument("--interval", metavar="I", help="only this interval")
    s.add_argument("--gaps", action="store_true", help="list every hole")
