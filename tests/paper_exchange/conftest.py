"""Fixtures: one paper exchange per test module, pybit HTTP for its main account."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pybit.unified_trading import HTTP

sys.path.insert(0, str(Path(__file__).parent))

from pe_helpers import ACCOUNTS, make_http

from paper_exchange.testing import RunningExchange, running_exchange


@pytest.fixture(scope="module")
def exchange() -> Iterator[RunningExchange]:
    logging.getLogger("pybit").setLevel(logging.WARNING)
    with running_exchange(accounts=ACCOUNTS, seed=7, history_minutes=240) as ex:
        yield ex


@pytest.fixture
def http(exchange: RunningExchange) -> HTTP:
    return make_http(exchange)
