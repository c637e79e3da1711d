"""Benchmark the paper exchange through the real pybit client.

1. REST order round-trips per second: several client processes, each with its own pybit
   ``HTTP`` and account, alternate ``place_order`` (a resting limit) and ``cancel_order``;
   every call is one signed round-trip through the whole engine. The clients import,
   connect and make one call first, then all start together on a barrier, so the window
   measures steady state and not interpreter start-up.
2. Execution messages per second delivered to one private socket: a pybit ``WebSocket``
   subscribed to ``execution`` while the exchange emits N synthetic executions (real
   ledger rows) as fast as the socket drains, several per frame as Bybit does. Counted are
   executions handed to the pybit callback, not frames.

Each figure is measured ``--repeat`` times (the machine may be shared: the best run is
the one least disturbed) and printed with the 1-minute load average at that moment.

Run:  .venv/bin/python bench/paper_exchange.py [--seconds 10] [--clients 3]
          [--messages 300000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import re
import sys
import threading
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pybit.unified_trading import HTTP, WebSocket

from paper_exchange.testing import spawn_exchange


def _load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def _rest_worker(
    rest_url: str, key: str, secret: str, seconds: float, start: Any, out: Any
) -> None:
    http = HTTP(api_key=key, api_secret=secret, retry_delay=0.05)
    http.endpoint = rest_url
    # requests re-reads proxy settings from the environment on every call; skip that
    http.client.trust_env = False
    price = "30000"  # far below the market: the order rests until cancelled
    n = 0
    errors = 0
    http.get_server_time()  # warm: the connection is open and every import done
    start.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            oid = http.place_order(
                category="linear",
                symbol="BTCUSDT",
                side="Buy",
                orderType="Limit",
                qty="0.001",
                price=price,
            )["result"]["orderId"]
            http.cancel_order(category="linear", symbol="BTCUSDT", orderId=oid)
            n += 2
        except Exception:
            errors += 1
    out.put((n, errors))


def bench_rest(rest_url: str, accounts: list[tuple[str, str]], seconds: float) -> float:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start = ctx.Barrier(len(accounts) + 1)
    procs = [
        ctx.Process(target=_rest_worker, args=(rest_url, k, s, seconds, start, out))
        for k, s in accounts
    ]
    for p in procs:
        p.start()
    start.wait(timeout=120)
    results = [out.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    total = sum(n for n, _e in results)
    errors = sum(e for _n, e in results)
    rate = total / seconds
    print(
        f"REST: {total} order round-trips in {seconds:.0f} s with {len(procs)} client "
        f"processes = {rate:,.0f}/s ({errors} errors; {_load()})"
    )
    return rate


class _Local(WebSocket):
    def __init__(self, base: str, **kwargs: Any) -> None:
        self._base = base
        super().__init__("private", testnet=False, **kwargs)

    def _connect(self, url: str) -> None:
        super()._connect(re.sub(r"^wss://[^/]+", self._base, url))


def bench_ws(ex: Any, key: str, secret: str, messages: int) -> float:
    received = 0
    first = last = 0.0
    done = threading.Event()

    def on_exec(msg: dict[str, Any]) -> None:
        nonlocal received, first, last
        if not received:
            first = time.perf_counter()
        received += len(msg["data"])
        last = time.perf_counter()
        if received >= messages:
            done.set()

    ws = _Local(ex.ws_url, api_key=key, api_secret=secret, private_auth_expire=10)
    ws.execution_stream(on_exec)
    while "execution" not in ex.control.state()["subscriptions"].get("ws", []):
        time.sleep(0.01)
    started = time.perf_counter()
    ex.control.post(
        "/paper/synthetic", account="ws", symbol="BTCUSDT", count=messages, rate=0, batch=200
    )
    done.wait(timeout=300)
    ws.exit()
    while ex.control.state()["subscriptions"].get("ws"):  # gone before the next run
        time.sleep(0.01)
    span = last - started
    rate = received / span if span > 0 else 0.0
    print(
        f"WS:   {received} execution messages delivered to one pybit private socket in "
        f"{span:.2f} s = {rate:,.0f}/s (first after {first - started:.3f} s; {_load()})"
    )
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    accounts = [(f"k{i}", f"s{i}") for i in range(args.clients)]
    cli = [
        "--speed",
        "manual",
        "--no-rate-limits",
        "--history-minutes",
        "60",
        "--account",
        "ws:kws:sws:100000000",
    ]
    for i, (k, s) in enumerate(accounts):
        cli += ["--account", f"a{i}:{k}:{s}:100000000"]
    ex = spawn_exchange(cli)
    try:
        print(
            f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}; {_load()} "
            "(1-minute average; other work on the machine takes CPU from both sides)"
        )
        rests = [
            (bench_rest(ex.rest_url, accounts, args.seconds), _load()) for _ in range(args.repeat)
        ]
        wss = [(bench_ws(ex, "kws", "sws", args.messages), _load()) for _ in range(args.repeat)]
    finally:
        ex.stop()
    rest, rest_load = max(rests)
    wsr, ws_load = max(wss)
    print(
        f"best of {args.repeat}: REST {rest:,.0f}/s ({rest_load}), "
        f"target >= 1,000/s: {'met' if rest >= 1000 else 'NOT met'}"
    )
    print(
        f"best of {args.repeat}: WS {wsr:,.0f} executions/s ({ws_load}), "
        f"target >= 50,000/s: {'met' if wsr >= 50_000 else 'NOT met'}"
    )
    print(
        "reproduce: .venv/bin/python bench/paper_exchange.py "
        f"--seconds {args.seconds:g} --clients {args.clients} --messages {args.messages} "
        f"--repeat {args.repeat}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
