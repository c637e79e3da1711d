"""The init containers' wait script (deploy/kubernetes/base/config/wait_for.py), run as the
pods run it: a separate interpreter, against real sockets and a real HTTP server.

It must return 0 once every target answers (a TCP port that accepts; an HTTP endpoint
that answers 2xx, so a 503 /healthz keeps it waiting), and 1 with the missing target
named once WAIT_TIMEOUT has passed, so a pod never starts before its dependencies and
never hangs silently.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deploy.kubernetes_manifests import KUBERNETES

SCRIPT = KUBERNETES / "base" / "config" / "wait_for.py"


def run(*targets: str, timeout: float = 5) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WAIT_INTERVAL": "0.1", "WAIT_TIMEOUT": str(timeout)}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *targets], env=env, capture_output=True, text=True, timeout=60
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


class Health:
    """An HTTP server whose /healthz answers 503 until ``healthy`` is set."""

    def __init__(self) -> None:
        self.healthy = threading.Event()
        self.requests = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.requests += 1
                self.send_response(200 if owner.healthy.is_set() else 503)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/healthz"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def health() -> Iterator[Health]:
    server = Health()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_ready_targets_pass_at_once(listening: int, health: Health) -> None:
    health.healthy.set()
    started = time.monotonic()
    result = run(f"tcp://127.0.0.1:{listening}", health.url)
    assert result.returncode == 0, result.stderr
    assert "ready" in result.stdout
    assert time.monotonic() - started < 5


def test_a_closed_port_fails_after_the_timeout_naming_it(listening: int) -> None:
    closed = free_port()
    started = time.monotonic()
    result = run(f"tcp://127.0.0.1:{listening}", f"tcp://127.0.0.1:{closed}", timeout=1)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert f"gave up on tcp://127.0.0.1:{closed}" in result.stderr
    assert f"{listening}" not in result.stderr  # the ready one is not blamed
    assert 1 <= elapsed < 10


def test_an_unhealthy_endpoint_is_waited_for_until_healthy(health: Health) -> None:
    timer = threading.Timer(1.0, health.healthy.set)
    timer.start()
    try:
        result = run(health.url, timeout=20)
    finally:
        timer.cancel()
    assert result.returncode == 0, result.stderr
    assert health.requests >= 3  # 503s retried before the 200
    assert "HTTP Error 503" in result.stdout  # the waiting line says why


def test_a_port_that_opens_later_is_waited_for() -> None:
    port = free_port()
    sock = socket.socket()

    def open_later() -> None:
        sock.bind(("127.0.0.1", port))
        sock.listen()

    timer = threading.Timer(1.0, open_later)
    timer.start()
    try:
        result = run(f"tcp://127.0.0.1:{port}", timeout=20)
    finally:
        timer.cancel()
        sock.close()
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("target", ["redis:6379", "tcp://redis", "ftp://x:21"])
def test_a_malformed_target_is_refused(target: str) -> None:
    result = run(target)
    assert result.returncode != 0
    assert "bad target" in result.stderr
