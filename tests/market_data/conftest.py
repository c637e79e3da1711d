"""One paper exchange per module (frozen clock) and a keyless pybit client for it."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from core.exchange.client import AlphaHTTP
from paper_exchange.testing import RunningExchange, moments_before_a_settlement, running_exchange


@pytest.fixture(scope="module")
def exchange() -> Iterator[RunningExchange]:
    """Started just before a scheduled funding settlement, so the funding tests meet one
    whatever the time of day they run."""
    logging.getLogger("pybit").setLevel(logging.WARNING)
    start = moments_before_a_settlement()
    with running_exchange(seed=11, history_minutes=240, start_ms=start) as ex:
        yield ex


@pytest.fixture
def http(exchange: RunningExchange) -> AlphaHTTP:
    # The same subclass ``alpha data download`` uses (core/exchange/client.py), no keys:
    # kline and funding history are public endpoints.
    return AlphaHTTP(base_url=exchange.rest_url, retry_delay=0.05, timeout=10)
