"""One paper exchange per module (frozen clock) and a keyless pybit client for it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from core.exchange.client import AlphaHTTP
from paper_exchange.testing import RunningExchange, running_exchange


@pytest.fixture(scope="module")
def exchange() -> Iterator[RunningExchange]:
    logging.getLogger("pybit").setLevel(logging.WARNING)
    with running_exchange(seed=11, history_minutes=240) as ex:
        yield ex


@pytest.fixture
def http(exchange: RunningExchange) -> AlphaHTTP:
    # The same subclass ``alpha data download`` uses (core/exchange/client.py), no keys:
    # kline and funding history are public endpoints.
    return AlphaHTTP(base_url=exchange.rest_url, retry_delay=0.05, timeout=10)
