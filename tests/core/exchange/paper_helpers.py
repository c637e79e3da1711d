"""Helpers for the exchange-client tests: Settings pointing the client at a paper exchange."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from core.config import AccountCredentials, BybitEnv, Settings, load_settings
from core.ids import AccountName
from paper_exchange.testing import RunningExchange

ACCOUNTS = (
    ("main", "main-key-0001", "main-secret-0001"),
    ("alt", "alt-key-0002", "alt-secret-0002"),
)


def exchange_settings(
    ex: RunningExchange, accounts: dict[str, tuple[str, str]] | None = None, **sync: Any
) -> Settings:
    base = load_settings()
    bybit = base.bybit.model_copy(
        update={"env": BybitEnv.PAPER, "rest_url": ex.rest_url, "ws_url": ex.ws_url}
    )
    creds = {
        AccountName(name): AccountCredentials(AccountName(name), SecretStr(k), SecretStr(s))
        for name, (k, s) in (accounts or ex.accounts).items()
    }
    return dataclasses.replace(base, bybit=bybit, accounts=creds)


def wait_for(cond: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
