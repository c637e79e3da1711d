"""A bot starts only on the exchange environment its registration names."""

from __future__ import annotations

import pytest

from bots.runtime.service import check_mode
from core.errors import UserError


def test_modes_and_environments_pair_up() -> None:
    for mode, env in (("live", "mainnet"), ("testnet", "testnet"), ("demo", "demo"),
                      ("paper", "paper")):  # fmt: skip
        check_mode("b", mode, env)
    for mode, env in (("paper", "mainnet"), ("live", "paper"), ("demo", "testnet")):
        with pytest.raises(UserError, match=f"registered for mode '{mode}'"):
            check_mode("b", mode, env)


def test_a_paper_bot_refuses_to_start_on_mainnet(database, redis) -> None:
    """It used to start, and trade with the account's mainnet key."""
    registered = database.alpha(
        "bots", "register", "paper_bot", "--type", "momentum", "--code", "pb1",
        "--redis-db", "1", "--symbols", "BTCUSDT", "--mode", "paper", "--initial-capital", "100",
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    result = database.alpha(
        "run", "bot", "paper_bot",
        env={"BYBIT_ENV": "mainnet", "BYBIT_API_KEY": "k", "BYBIT_API_SECRET": "s",
             "ALPHA_HTTP_PORT": "0"},
        timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "alpha: error: bot paper_bot is registered for mode 'paper' (BYBIT_ENV=paper), "
        "but BYBIT_ENV is mainnet; refusing to start"
    )
