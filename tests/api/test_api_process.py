"""``alpha run api`` as a process: it listens where told, answers with a token made by
``alpha api token create``, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import requests
from harness.services import alpha_command


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_alpha_run_api_serves_and_stops_on_sigterm(database, redis) -> None:
    made = database.alpha("api", "token", "create", "--role", "viewer", "--name", "probe")
    token = made.stdout.strip()
    port = _free_port()
    proc = subprocess.Popen(
        [*alpha_command(), "run", "api", "--port", str(port)],
        env=database.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"{base}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "the API never listened"
                time.sleep(0.2)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        auth = {"Authorization": f"Bearer {token}"}
        assert requests.get(f"{base}/api/v1/bots", headers=auth, timeout=5).json() == {"bots": []}
        assert requests.get(f"{base}/api/v1/bots", timeout=5).status_code == 401
        page = requests.get(f"{base}/", timeout=5)  # the dashboard, from the same process
        assert page.status_code == 200 and "/static/dashboard.js" in page.text
        assert requests.get(f"{base}/static/dashboard.js", timeout=5).status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "API listening on http://127.0.0.1:" in stderr
    assert "dashboard at http://127.0.0.1:" in stderr
    assert "GET /api/v1/bots 200" in stderr and "GET /api/v1/bots 401" in stderr
    assert token not in stderr and token.removeprefix("alpha_") not in stderr


def test_a_port_in_use_is_one_error_line(database) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = database.alpha("run", "api", "--port", str(port), timeout=60)
    assert result.returncode == 1
    assert f"alpha: error: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
