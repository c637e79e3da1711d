"""A paper exchange per test (real server, free port) and Settings pointing at it."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from paper_helpers import ACCOUNTS, exchange_settings

from core.config import Settings
from paper_exchange.testing import RunningExchange, running_exchange


@pytest.fixture
def exchange() -> Iterator[RunningExchange]:
    with running_exchange(accounts=ACCOUNTS, seed=3) as ex:
        yield ex


@pytest.fixture
def settings(exchange: RunningExchange) -> Settings:
    return exchange_settings(exchange)
