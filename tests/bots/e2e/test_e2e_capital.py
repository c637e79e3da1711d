"""A bot's equity is its capital plus its own P&L from the ledger, never the wallet's."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bots.runtime.service import build_host
from core.errors import UserError
from core.exchange.client import make_http
from core.exchange.rest import wallet
from tests.bots.e2e.harness import stack
from tests.bots.e2e.test_e2e_shortseller import CONFIG, _bars


def _wallet_equity(s, account: str) -> Decimal:
    (item,) = wallet(make_http(s.settings, account))
    return Decimal(item["totalEquity"])


def test_without_allocation_an_own_account_is_read_once_and_followed_by_the_ledger(
    database, redis, tmp_path
):
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register("ss_cap", "sc1", "shortseller", CONFIG, redis_db=1, account="solo",
                   capital=None)  # fmt: skip
        start = _wallet_equity(s, "solo")
        bot = s.start_bot("ss_cap")
        assert bot.host.capital == start
        s.play(3)  # short, then its take profit: a closed round trip with two fees
        assert s.qty("ss_cap") == 0
        realized = s.position("ss_cap")["realized_pnl"]
        assert realized != 0
        # The wallet already holds the round trip; counted once, not twice.
        assert bot.host.equity(bot.host.holdings()) == start + realized
        assert bot.host.equity(bot.host.holdings()) == _wallet_equity(s, "solo")
        bot.halt()
        # Restarted, the capital is the same: the bot's own P&L is taken out of the wallet.
        again = s.start_bot("ss_cap")
        assert again.host.capital == start


def test_a_bot_sharing_its_account_without_allocation_does_not_start(database, redis, tmp_path):
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register("ss_cap", "sc1", "shortseller", CONFIG, redis_db=1, capital=None)
        # Registered before the rule existed: its peer shares the account.
        with database.connect("owner", direct=True) as conn:
            conn.execute(
                "INSERT INTO trading.bots (bot_id, bot_code, bot_name, bot_type, strategy_name,"
                " mode, account, redis_db, symbols, config) VALUES ('ss_peer', 'sp1', 'p',"
                " 'shortseller', 's', 'paper', 'main', 2, ARRAY['BTCUSDT'], '{}')"
            )
        host = build_host(s.settings, "ss_cap")
        try:
            with pytest.raises(UserError, match="shares account main with ss_peer"):
                host.start()
        finally:
            host.close()
