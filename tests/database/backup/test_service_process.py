"""``alpha run backup`` as a process: /healthz, /metrics, a /backup request, SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from harness.services import alpha_command

from core.config import Role
from database.backup import store
from devenv.ports import free_port


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode()


def test_service_process(database: Any, redis: Any, tmp_path: Path) -> None:
    port = free_port()
    env = {**database.env(), "ALPHA_HTTP_PORT": str(port), "ALPHA_HTTP_HOST": "127.0.0.1",
           "BACKUP_DIR": str(tmp_path / "b"), "BACKUP_CRON": "0 0 1 1 *"}  # fmt: skip
    command = [*alpha_command(), "run", "backup"]
    proc = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "service did not start"
                time.sleep(0.2)
        assert status == 200 and json.loads(body)["checks"]["postgres"]["ok"]
        database.stack.redis(15).xadd("backup:requests", {"requested_by": "test"})
        deadline = time.monotonic() + 60
        while True:
            with database.connect(Role.OWNER, True) as conn:
                rows = store.listing(conn)
            if rows and rows[0].status != "running":
                break
            assert time.monotonic() < deadline, "request not served"
            time.sleep(0.3)
        assert [(r.kind, r.status) for r in rows] == [("manual", "verified")]
        _, metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert 'alpha_backup_runs_total{kind="manual",outcome="verified"} 1.0' in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert database.settings.db_roles.owner_password.get_secret_value() not in out
