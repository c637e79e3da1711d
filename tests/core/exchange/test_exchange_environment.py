"""A REST session reads the proxy environment once, when it is made (core/exchange/client.py).

requests would re-read ``HTTPS_PROXY``/``NO_PROXY`` and ``.netrc`` on every call (a walk
of ``os.environ`` per order, docs/fleet.md#how-fast-a-bot-reacts); the session resolves
them for its one host at construction instead, with the same answer.
"""

from __future__ import annotations

import pytest
from paper_helpers import exchange_settings

from core.exchange import make_http

#: Nothing listens here: a request sent through it fails at once.
DEAD_PROXY = "http://127.0.0.1:9"


def _clear_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_a_proxy_in_the_environment_is_used(exchange, monkeypatch):
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", DEAD_PROXY)
    http = make_http(exchange_settings(exchange), "main")
    # The session's own proxies are what requests' adapter routes every call through.
    assert http.client.proxies == {"http": DEAD_PROXY}


def test_no_proxy_still_bypasses_it(exchange, monkeypatch):
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", DEAD_PROXY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    http = make_http(exchange_settings(exchange), "main")
    assert http.client.proxies == {}
    assert http.get_server_time()["retCode"] == 0


def test_the_environment_is_not_read_again_per_request(exchange, monkeypatch):
    _clear_proxy_env(monkeypatch)
    http = make_http(exchange_settings(exchange), "main", timeout=2)
    assert http.get_server_time()["retCode"] == 0
    # Were it read per request, this would now route every call to a dead proxy.
    monkeypatch.setenv("HTTP_PROXY", DEAD_PROXY)
    assert http.get_server_time()["retCode"] == 0
