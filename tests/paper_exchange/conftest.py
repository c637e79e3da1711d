"""Fixtures: one paper exchange per test module, pybit HTTP for its main account."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pe_helpers import ACCOUNTS, make_http
from pybit.unified_trading import HTTP

from paper_exchange.testing import RunningExchange, running_exchange


@pytest.fixture(scope="module")
def exchange() -> Iterator[RunningExchange]:
    logging.getLogger("pybit").setLevel(logging.WARNING)
    with running_exchange(accounts=ACCOUNTS, seed=7, history_minutes=240) as ex:
        yield ex


@pytest.fixture
def http(exchange: RunningExchange) -> HTTP:
    return make_http(exchange)
