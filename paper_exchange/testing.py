"""Start a paper exchange for a test, in-process or as a subprocess.

In-process (background thread with its own event loop, port 0)::

    from paper_exchange.testing import running_exchange

    with running_exchange(accounts=[("main", "key", "secret")], seed=7) as ex:
        ex.rest_url        # "http://127.0.0.1:PORT"   -> pybit HTTP.endpoint
        ex.ws_url          # "ws://127.0.0.1:PORT"     -> + "/v5/private", "/v5/public/linear"
        ex.accounts        # {"main": ("key", "secret")}
        ex.control.price("BTCUSDT", "65000")       # trade through a price now
        ex.control.advance(60_000)                 # move the simulated clock 1 minute
        ex.control.post("/paper/faults/drop", account="main", count=2)
        ex.control.dump("main")["executions"]

``running_exchange(accounts=..., seed=1, scenario="random_walk", speed=None,
history_minutes=240, market_files=(), rate_limits=False, start_ms=None, lenient=False,
liquidity="flat", depth=None)``:
``accounts`` items are ``(name, key, secret)`` or ``(name, key, secret, usdt_balance)``;
``speed=None`` (the default here) freezes the clock so tests move it explicitly; give
``1.0`` for real time or ``0`` for as fast as possible. ``lenient=True`` accepts any JSON
type for the typed request fields (``--lenient``). ``liquidity="realistic"`` and
``depth={"BTCUSDT": Decimal(600)}`` (USDT at the touch) make the order book thin, so
market orders walk it (``--liquidity``, ``--depth``). ``ex.exchange`` is the live
:class:`~paper_exchange.server.app.PaperExchange` (touch it only via ``ex.call(fn)``,
which runs ``fn()`` on the server's loop).

As a subprocess (what the demo does): ``spawn_exchange(args=[...])`` runs
``python -m paper_exchange --port 0 ...`` and returns a :class:`SpawnedExchange` with the
same ``rest_url``/``ws_url``/``control`` plus ``stop()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from paper_exchange.market.market import FUNDING_MS
from paper_exchange.server.app import AccountSpec, ExchangeConfig, PaperExchange

T = TypeVar("T")
AccountArg = tuple[str, str, str] | tuple[str, str, str, str | int | Decimal]
DEFAULT_ACCOUNTS: tuple[AccountArg, ...] = (("main", "test-key", "test-secret"),)


class ControlClient:
    """Plain-HTTP helper for ``/paper/...``; errors raise ``RuntimeError`` with the reason."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path} -> {exc.code}: {exc.read().decode()}") from None

    def get(self, path: str, /, **query: Any) -> Any:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return self._request("GET", f"{path}?{qs}" if qs else path, None)

    def post(self, path: str, /, **body: Any) -> Any:
        return self._request("POST", path, body)

    # conveniences for the common calls
    def state(self) -> dict[str, Any]:
        return self.get("/paper/state")

    def price(
        self, symbol: str, price: str | Decimal, qty: str | Decimal | None = None
    ) -> dict[str, Any]:
        """Trade at ``price`` now (``qty``: the traded quantity, for flow-limited books)."""
        if qty is None:
            return self.post("/paper/price", symbol=symbol, price=str(price))
        return self.post("/paper/price", symbol=symbol, price=str(price), qty=str(qty))

    def advance(self, ms: int) -> dict[str, Any]:
        return self.post("/paper/clock", advance_ms=ms)

    def advance_past_scheduled_funding(self) -> dict[str, Any]:
        """Move the clock just past the next scheduled funding settlement. A test that
        posts its own funding and then moves a few minutes meets no scheduled one after
        this, whatever the time of day it runs."""
        state = self.state()
        return self.advance(state["next_funding_ms"] - state["now_ms"] + 1)

    def dump(self, account: str) -> dict[str, Any]:
        return self.get("/paper/dump", account=account)

    def manual_trade(self, account: str, symbol: str, side: str, qty: str) -> dict[str, Any]:
        return self.post("/paper/manual-trade", account=account, symbol=symbol, side=side, qty=qty)

    def clear_faults(self) -> None:
        self.post("/paper/faults/clear")


def moments_before_a_settlement(seconds: int = 30) -> int:
    """A ``start_ms`` ``seconds`` before the latest scheduled funding settlement (every
    8 hours from 00:00 UTC): a test started there meets the settlement within its first
    minute, whatever the time of day it runs. Signed requests still pass: the exchange
    also accepts timestamps near the wall clock."""
    now = int(time.time() * 1000)
    return now - now % FUNDING_MS - seconds * 1000


@dataclass
class RunningExchange:
    rest_url: str
    ws_url: str
    control: ControlClient
    accounts: dict[str, tuple[str, str]]
    exchange: PaperExchange
    loop: asyncio.AbstractEventLoop = field(repr=False)

    @property
    def port(self) -> int:
        return self.exchange.port

    @property
    def private_url(self) -> str:
        return f"{self.ws_url}/v5/private"

    @property
    def public_url(self) -> str:
        return f"{self.ws_url}/v5/public/linear"

    def call(self, fn: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``fn()`` on the server's event loop and return its result."""
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return future.result(timeout)


def _specs(accounts: Sequence[AccountArg]) -> tuple[AccountSpec, ...]:
    specs = []
    for item in accounts:
        name, key, secret = item[0], item[1], item[2]
        balance = Decimal(str(item[3])) if len(item) > 3 else Decimal(100_000)
        specs.append(AccountSpec(name, key, secret, balance))
    return tuple(specs)


@contextlib.contextmanager
def running_exchange(
    accounts: Sequence[AccountArg] = DEFAULT_ACCOUNTS,
    *,
    seed: int = 1,
    scenario: str = "random_walk",
    speed: float | None = None,
    history_minutes: int = 240,
    market_files: Sequence[str | Path] = (),
    rate_limits: bool = False,
    start_ms: int | None = None,
    lenient: bool = False,
    liquidity: str = "flat",
    depth: dict[str, Decimal] | None = None,
) -> Iterator[RunningExchange]:
    config = ExchangeConfig(
        accounts=_specs(accounts),
        host="127.0.0.1",
        port=0,
        seed=seed,
        scenario=scenario,
        speed=speed,
        history_minutes=history_minutes,
        market_files=tuple(Path(p) for p in market_files),
        rate_limits=rate_limits,
        start_ms=start_ms,
        lenient=lenient,
        liquidity=liquidity,
        depth=dict(depth or {}),
    )
    loop = asyncio.new_event_loop()
    started: Future[PaperExchange] = Future()
    stop = asyncio.Event()

    async def main() -> None:
        try:
            ex = PaperExchange(config)
            await ex.start()
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(ex)
        try:
            await stop.wait()
        finally:
            await ex.stop()

    thread = threading.Thread(
        target=loop.run_until_complete, args=(main(),), name="paper-exchange", daemon=True
    )
    thread.start()
    exchange = started.result(timeout=60)
    base = f"127.0.0.1:{exchange.port}"
    try:
        yield RunningExchange(
            rest_url=f"http://{base}",
            ws_url=f"ws://{base}",
            control=ControlClient(f"http://{base}"),
            accounts={s.name: (s.api_key, s.api_secret) for s in config.accounts},
            exchange=exchange,
            loop=loop,
        )
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=15)
        if not thread.is_alive():
            loop.close()


@dataclass
class SpawnedExchange:
    process: subprocess.Popen[str]
    rest_url: str
    ws_url: str
    control: ControlClient

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def spawn_exchange(
    args: Sequence[str] = (), timeout: float = 60.0, env: Mapping[str, str] | None = None
) -> SpawnedExchange:
    """Run the exchange as a separate process on a free port; read the port it prints.
    ``env`` is added to this process's environment."""
    cmd = [sys.executable, "-m", "paper_exchange", "--port", "0", *args]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    deadline = timeout
    pattern = re.compile(r"listening on http://([\d.]+):(\d+)")
    lines: list[str] = []
    result: list[tuple[str, str]] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            m = pattern.search(line)
            if m and not result:
                result.append((m.group(1), m.group(2)))

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    import time

    end = time.monotonic() + deadline
    while not result and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.02)
    if not result:
        proc.kill()
        raise RuntimeError("paper exchange did not start:\n" + "".join(lines))
    host, port = result[0]
    return SpawnedExchange(
        process=proc,
        rest_url=f"http://{host}:{port}",
        ws_url=f"ws://{host}:{port}",
        control=ControlClient(f"http://{host}:{port}"),
    )
