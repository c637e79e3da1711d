"""An interrupted download keeps every page it committed, and the next run fetches only
the rest (docs/research.md#downloading-alpha-data-download)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from harness.services import Database

from bots.runtime.market import server_now
from core.config import Role
from core.exchange.client import AlphaHTTP
from market_data.download import download_candles
from paper_exchange.testing import RunningExchange, running_exchange


@pytest.fixture(scope="module")
def exchange() -> Iterator[RunningExchange]:
    with running_exchange(seed=13, history_minutes=4 * 1440) as ex:  # 5760 1-minute bars
        yield ex


class CtrlCAfter:
    """The real pybit client, but the operator presses Ctrl-C before kline request N+1."""

    def __init__(self, http: AlphaHTTP, requests: int) -> None:
        self.http, self.left = http, requests

    def get_kline(self, **params: Any) -> Any:
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.http.get_kline(**params)


def test_an_interrupted_download_resumes_where_it_stopped(
    database: Database, http: AlphaHTTP
) -> None:
    now = server_now(http)
    start = now - timedelta(days=3)
    with database.connect(Role.OWNER, direct=True) as conn:
        with pytest.raises(KeyboardInterrupt):
            download_candles(CtrlCAfter(http, 2), conn, "paper", "ETHUSDT", "1", start, now, now)
        conn.rollback()
        kept = conn.execute("SELECT count(*) FROM market.candles").fetchone()[0]
        assert kept == 2000  # two pages of 1000, each committed as it arrived

        resumed = download_candles(http, conn, "paper", "ETHUSDT", "1", start, now, now)
        assert resumed.missing == resumed.fetched == resumed.written.inserted
        assert resumed.wanted == resumed.missing + 2000
        assert resumed.pages == 3 and not resumed.gaps  # 4320 bars: 3 pages were left

        stored = conn.execute(
            "SELECT count(*), min(open_time), max(open_time) FROM market.candles"
        ).fetchone()
    assert stored[0] == resumed.wanted
    assert stored[2] - stored[1] == (resumed.wanted - 1) * timedelta(minutes=1)
