"""Start a paper exchange from parsed command-line arguments and serve until a signal.

Shared by ``alpha run paper-exchange`` (``cli``) and ``python -m paper_exchange``
(``__main__``), which both only parse arguments; this module imports neither of them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from decimal import Decimal
from pathlib import Path

from core.errors import UserError
from paper_exchange.accounts import account_texts, parse_account


def serve(args: argparse.Namespace) -> int:
    from paper_exchange.engine.orderbook import PROFILES
    from paper_exchange.market.generator import SCENARIOS
    from paper_exchange.server.app import AccountSpec, ExchangeConfig, PaperExchange

    accounts = tuple(AccountSpec(*parse_account(a)) for a in account_texts(args)) or (
        AccountSpec("main", "paper-key", "paper-secret"),
    )
    if len({a.name for a in accounts}) != len(accounts) or len(
        {a.api_key for a in accounts}
    ) != len(accounts):
        raise UserError("each --account needs a unique NAME and API_KEY")
    if args.scenario not in SCENARIOS:
        raise UserError(f"unknown --scenario {args.scenario!r}; known: {', '.join(SCENARIOS)}")
    if args.liquidity not in PROFILES:
        raise UserError(f"unknown --liquidity {args.liquidity!r}; known: {', '.join(PROFILES)}")
    depth: dict[str, Decimal] = {}
    for item in args.depth:
        symbol, _, usdt = item.partition("=")
        try:
            depth[symbol.upper()] = Decimal(usdt)
        except ArithmeticError:
            raise UserError(f"--depth wants SYMBOL=USDT, got {item!r}") from None
        if not symbol or not depth[symbol.upper()] > 0:
            raise UserError(f"--depth wants SYMBOL=USDT with USDT > 0, got {item!r}")
    if args.history_minutes < 0:
        raise UserError("--history-minutes must be >= 0")
    config = ExchangeConfig(
        accounts=accounts,
        host=args.host,
        port=args.port,
        seed=args.seed if args.seed is not None else 1,
        scenario=args.scenario,
        market_files=tuple(Path(m) for m in args.market),
        speed=args.speed,
        history_minutes=args.history_minutes,
        rate_limits=not args.no_rate_limits,
        lenient=args.lenient,
        liquidity=args.liquidity,
        depth=depth,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return asyncio.run(_main(config, PaperExchange))


async def _main(config: object, factory: type) -> int:
    try:
        exchange = factory(config)
        port = await exchange.start()
    except OSError as exc:
        raise UserError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None  # type: ignore[attr-defined]
    host = config.host  # type: ignore[attr-defined]
    print(f"paper exchange listening on http://{host}:{port}", flush=True)
    print(f"  REST       http://{host}:{port}/v5/...", flush=True)
    print(f"  private WS ws://{host}:{port}/v5/private", flush=True)
    print(f"  public WS  ws://{host}:{port}/v5/public/linear", flush=True)
    print(f"  control    http://{host}:{port}/paper/state", flush=True)
    for spec in config.accounts:  # type: ignore[attr-defined]
        print(
            f"  account    {spec.name}: key {spec.api_key} balance {spec.balance} USDT", flush=True
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    await stop.wait()
    await exchange.stop()
    return 0
