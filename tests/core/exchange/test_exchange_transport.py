"""pybit's calls go through a lean session (core/exchange/transport.py), against the
paper exchange and a socket that never answers.

The session must look to pybit exactly like requests: a ``requests.Response`` with the
exchange's answer, and requests' own exception types for a dead host, a silent host and
a proxy, so pybit's retries and our error handling keep working unchanged.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from paper_helpers import exchange_settings
from pybit.exceptions import FailedRequestError

from core.exchange import make_http
from core.exchange.transport import LeanSession


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections, reads what is sent and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


def test_a_signed_order_goes_through_the_lean_session(exchange):
    http = make_http(exchange_settings(exchange), "main")
    assert isinstance(http.client, LeanSession)
    placed = http.place_order(
        category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit",
        qty="0.001", price="10000", orderLinkId="lean-1",
    )  # fmt: skip
    assert placed["retCode"] == 0
    listed = http.get_open_orders(category="linear", symbol="BTCUSDT")
    assert [o["orderLinkId"] for o in listed["result"]["list"]] == ["lean-1"]


def test_the_answer_is_a_full_requests_response(exchange):
    http = make_http(exchange_settings(exchange), "main")
    request = requests.Request("GET", f"{http.endpoint}/v5/market/time")
    response = http.client.send(http.client.prepare_request(request), timeout=5)
    assert isinstance(response, requests.Response)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["retCode"] == 0
    assert response.url == f"{http.endpoint}/v5/market/time"
    assert response.elapsed.total_seconds() > 0
    # pybit's default headers (json content type) reach the exchange with the request
    assert response.request.headers["Content-Type"] == "application/json"


def test_a_non_200_answer_reaches_pybits_status_check(exchange):
    http = make_http(exchange_settings(exchange), "main", max_retries=1)
    with pytest.raises(FailedRequestError) as raised:
        http._submit_request(method="GET", path=f"{http.endpoint}/v5/no/such/path")
    assert raised.value.status_code == 404


def test_a_dead_host_raises_requests_connection_error():
    session = LeanSession()
    # Port 9 (discard) has no listener on this machine: refused at once.
    request = requests.Request("GET", "http://127.0.0.1:9/v5/market/time")
    with pytest.raises(requests.exceptions.ConnectionError) as raised:
        session.send(session.prepare_request(request), timeout=2)
    # As requests words it: refused is not a timeout (urllib3's NewConnectionError is a
    # ConnectTimeoutError subclass; requests, and so pybit's callers, see ConnectionError).
    assert type(raised.value) is requests.exceptions.ConnectionError


def test_pybit_sees_a_silent_exchange_as_requests_read_timeout(exchange, silent_port):
    """pybit catches requests' exception types to retry; ours must be those."""
    http = make_http(exchange_settings(exchange), "main", timeout=0.3, max_retries=1)
    http.endpoint = f"http://127.0.0.1:{silent_port}"
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get_server_time()


def test_a_silent_host_raises_requests_read_timeout(silent_port):
    session = LeanSession()
    request = requests.Request("POST", f"http://127.0.0.1:{silent_port}/v5/order/create", data="{}")
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.send(session.prepare_request(request), timeout=0.3)


def test_with_a_proxy_requests_handles_the_call(exchange, silent_port):
    """A proxy is requests' job: the call goes to the proxy, not to the exchange."""
    http = make_http(exchange_settings(exchange), "main", timeout=0.3, max_retries=1)
    http.client.proxies = {"http": f"http://127.0.0.1:{silent_port}"}
    prepared = http.client.prepare_request(requests.Request("GET", f"{http.endpoint}/x"))
    with pytest.raises(requests.exceptions.ReadTimeout):  # the silent proxy, not the exchange
        http.client.send(prepared, timeout=0.3)


def test_a_form_body_is_left_to_requests_to_encode():
    session = LeanSession()
    prepared = session.prepare_request(
        requests.Request("POST", "http://127.0.0.1:9/x", data={"a": "1", "b": "2"})
    )
    assert prepared.body == "a=1&b=2"
    assert prepared.headers["Content-Type"] == "application/x-www-form-urlencoded"


@pytest.fixture
def self_signed_https(tmp_path) -> Iterator[int]:
    """An HTTPS server on loopback whose certificate no public CA signed."""
    import http.server
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the stdlib calls it by this name
            body = b'{"retCode":0,"retMsg":"OK","result":{},"time":0}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_certificate_no_public_ca_signed_is_refused(self_signed_https):
    """Skipping requests must not skip certificate checks: real money talks TLS."""
    session = LeanSession()
    request = requests.Request("GET", f"https://127.0.0.1:{self_signed_https}/v5/market/time")
    with pytest.raises(requests.exceptions.SSLError):
        session.send(session.prepare_request(request), timeout=5)
    # The server itself answers: with verification off the same call succeeds.
    import urllib3

    insecure = urllib3.PoolManager(cert_reqs="CERT_NONE")
    with pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        answer = insecure.request("GET", f"https://127.0.0.1:{self_signed_https}/v5/market/time")
    assert answer.json()["retCode"] == 0
