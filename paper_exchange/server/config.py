"""What a paper exchange is started with: its accounts, market, clock and liquidity.

Its own module so that the handlers (through ``host.Host``) and the app can both name
the configuration without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path


@dataclass(frozen=True, slots=True)
class AccountSpec:
    name: str
    api_key: str
    api_secret: str
    balance: Decimal = Decimal(100_000)


@dataclass(slots=True)
class ExchangeConfig:
    accounts: tuple[AccountSpec, ...] = (AccountSpec("main", "paper-key", "paper-secret"),)
    host: str = "127.0.0.1"
    port: int = 8480
    seed: int = 1
    scenario: str = "random_walk"
    market_files: tuple[Path, ...] = ()
    speed: float | None = 1.0  # None: manual clock; 0: as fast as possible; else x real time
    history_minutes: int = 1440
    start_ms: int | None = None
    rate_limits: bool = True
    #: Accept any JSON type for the typed POST fields (``server/validation.py``).
    lenient: bool = False
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.00055")
    funding_rate: Decimal = Decimal("0.0001")
    #: Order-book depth profile (``engine/orderbook.py``): "flat" keeps every level full
    #: and deep; "realistic" has thin alts, deep BTC and levels that refill over time.
    liquidity: str = "flat"
    #: Per-symbol USDT resting at the touch, overriding the profile.
    depth: dict[str, Decimal] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)
