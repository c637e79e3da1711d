"""Real keys go only to Bybit's hosts of their environment, over TLS (docs/bybit.md)."""

from __future__ import annotations

import logging

import pytest

from core.config import load_settings
from core.errors import ConfigError
from core.exchange.client import endpoints

REFUSED = [
    # (env, variable, value, what the one line must say)
    ("mainnet", "BYBIT_REST_URL", "http://api.bybit.com", "needs https://"),
    ("mainnet", "BYBIT_REST_URL", "https://evil.example.com", "evil.example.com is not one"),
    ("mainnet", "BYBIT_WS_URL", "ws://stream.bybit.com", "needs wss://"),
    ("mainnet", "BYBIT_REST_URL", "https://api-testnet.bybit.com", "not one of Bybit's mainnet"),
    ("testnet", "BYBIT_REST_URL", "https://api.bybit.com", "not one of Bybit's testnet"),
    ("demo", "BYBIT_WS_URL", "wss://127.0.0.1:8480", "not one of Bybit's demo"),
    ("mainnet", "BYBIT_REST_URL", "https://api.bybit.com.evil.example", "is not one"),
]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    for var in ("BYBIT_ENV", "BYBIT_REST_URL", "BYBIT_WS_URL", "BYBIT_ALLOW_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir("/")  # no .env file
    return monkeypatch


@pytest.mark.parametrize(("bybit_env", "var", "value", "message"), REFUSED)
def test_an_override_off_bybits_hosts_is_refused(env, bybit_env, var, value, message) -> None:
    """It used to be accepted with no warning, plain http included."""
    env.setenv("BYBIT_ENV", bybit_env)
    env.setenv(var, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    text = str(caught.value)
    assert text.startswith(f"{var}: ") and message in text and "\n" not in text


@pytest.mark.parametrize(
    ("bybit_env", "url"),
    [("mainnet", "https://api.bytick.com"), ("testnet", "https://api-testnet.bybit.com/"),
     ("demo", "https://api-demo.bybit.com")],
)  # fmt: skip
def test_bybits_own_hosts_are_accepted(env, bybit_env, url) -> None:
    env.setenv("BYBIT_ENV", bybit_env)
    env.setenv("BYBIT_REST_URL", url)
    assert load_settings().bybit.rest_url == url.rstrip("/")


def test_the_opt_in_names_one_host_and_is_logged(env, caplog) -> None:
    env.setenv("BYBIT_ENV", "mainnet")
    env.setenv("BYBIT_REST_URL", "https://api.bybit.nl")
    env.setenv("BYBIT_ALLOW_HOST", "api.bybit.nl")
    settings = load_settings()
    with caplog.at_level(logging.WARNING, logger="core.exchange.client"):
        assert endpoints(settings).rest == "https://api.bybit.nl"
    assert "BYBIT_ALLOW_HOST=api.bybit.nl" in caplog.text
    env.setenv("BYBIT_REST_URL", "http://api.bybit.nl")  # still TLS only
    with pytest.raises(ConfigError, match="needs https://"):
        load_settings()


def test_paper_takes_any_address(env) -> None:
    env.setenv("BYBIT_ENV", "paper")
    env.setenv("BYBIT_REST_URL", "http://paper-exchange:8480")
    assert endpoints(load_settings()).ws == "ws://paper-exchange:8480"
