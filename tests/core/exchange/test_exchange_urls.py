"""URL resolution for every BYBIT_ENV, checked on real pybit objects (no network needed).

A WebSocket that cannot connect raises with its endpoint in the message, which shows
the URL pybit actually dialled after our ``_connect`` override.
"""

from __future__ import annotations

import dataclasses
import socket

import pytest
from pydantic import SecretStr

from core.config import AccountCredentials, BybitEnv, load_settings
from core.exchange.client import PAPER_DEFAULT, endpoints, make_http, make_websocket
from core.ids import AccountName


def _settings(env: BybitEnv, rest: str | None = None, ws: str | None = None):
    base = load_settings()
    bybit = base.bybit.model_copy(update={"env": env, "rest_url": rest, "ws_url": ws})
    acct = AccountName("main")
    creds = AccountCredentials(acct, SecretStr("testkey123"), SecretStr("testsecret456"))
    return dataclasses.replace(base, bybit=bybit, accounts={acct: creds})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("env", "rest"),
    [
        (BybitEnv.MAINNET, "https://api.bybit.com"),
        (BybitEnv.TESTNET, "https://api-testnet.bybit.com"),
        (BybitEnv.DEMO, "https://api-demo.bybit.com"),
        (BybitEnv.PAPER, PAPER_DEFAULT),
    ],
)
def test_rest_endpoint_per_env(env: BybitEnv, rest: str) -> None:
    assert make_http(_settings(env), "main").endpoint == rest
    assert make_http(_settings(env), None).endpoint == rest


@pytest.mark.parametrize("env", list(BybitEnv))
def test_rest_override_wins_in_every_env(env: BybitEnv) -> None:
    http = make_http(_settings(env, rest="http://127.0.0.1:9999"), "main")
    assert http.endpoint == "http://127.0.0.1:9999"
    assert "testsecret456" not in repr(http) and "testkey123" not in repr(http)


def test_paper_derives_one_url_from_the_other() -> None:
    ep = endpoints(_settings(BybitEnv.PAPER, rest="http://127.0.0.1:8123"))
    assert ep.ws == "ws://127.0.0.1:8123"
    ep = endpoints(_settings(BybitEnv.PAPER, ws="ws://127.0.0.1:8124"))
    assert ep.rest == "http://127.0.0.1:8124"


@pytest.mark.parametrize("env", list(BybitEnv))
@pytest.mark.parametrize("channel", ["private", "linear"])
def test_ws_override_rebases_pybit_url(env: BybitEnv, channel: str) -> None:
    port = _closed_port()
    settings = _settings(env, ws=f"ws://127.0.0.1:{port}")
    with pytest.raises(Exception) as info:
        make_websocket(settings, channel, "main", retries=2, restart_on_error=False)
    path = "/v5/private" if channel == "private" else "/v5/public/linear"
    assert f"ws://127.0.0.1:{port}{path}" in str(info.value)


def test_ws_requires_account_for_private() -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError):
        make_websocket(_settings(BybitEnv.PAPER), "private", None)
    with pytest.raises(ConfigError, match="known accounts: main"):
        make_http(_settings(BybitEnv.PAPER), "nosuch")
