"""Init container: wait until every dependency of a pod answers, then exit 0.

    python3 wait_for.py tcp://pgbouncer:6432 tcp://redis:6379 http://websocket-listener:9100/healthz

Kubernetes' stand-in for compose's ``depends_on: condition: service_healthy``. A Service
forwards only to pods whose readiness probe passes (the compose healthcheck), so a TCP
connection to ``pgbouncer:6432`` succeeds only once a healthy PgBouncer is behind it; an
``http://`` target must also answer 2xx. Each target is retried every WAIT_INTERVAL
seconds (2) until WAIT_TIMEOUT (600) has passed; then it exits 1, the kubelet restarts
the init container with its back-off and the pod shows ``Init:CrashLoopBackOff`` naming
the dependency that never came. Standard library only: it runs in the Alpha image.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit


def ready(target: str, timeout: float) -> str | None:
    """None when ``target`` answers, else why not (one line, for the log)."""
    parts = urlsplit(target)
    if parts.scheme == "tcp" and parts.hostname and parts.port:
        try:
            with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
                return None
        except OSError as exc:
            return str(exc)
    if parts.scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(target, timeout=timeout):
                return None
        except (urllib.error.URLError, OSError) as exc:  # HTTPError (non-2xx) included
            return str(exc)
    raise SystemExit(f"wait_for: bad target {target!r} (tcp://HOST:PORT or http://…)")


def main(argv: list[str]) -> int:
    targets = argv[1:]
    if not targets:
        raise SystemExit("usage: wait_for.py TARGET... (tcp://HOST:PORT, http://HOST:PORT/PATH)")
    interval = float(os.environ.get("WAIT_INTERVAL", "2"))
    deadline = time.monotonic() + float(os.environ.get("WAIT_TIMEOUT", "600"))
    pending = list(targets)
    last_report = 0.0
    while True:
        reasons = {target: ready(target, timeout=interval) for target in pending}
        pending = [target for target, reason in reasons.items() if reason is not None]
        if not pending:
            print(f"wait_for: ready: {' '.join(targets)}", flush=True)
            return 0
        now = time.monotonic()
        if now >= deadline:
            for target in pending:
                print(f"wait_for: gave up on {target}: {reasons[target]}", file=sys.stderr)
            return 1
        if now - last_report >= 10:  # one line per ten seconds, not one per retry
            waiting = "; ".join(f"{t} ({reasons[t]})" for t in pending)
            print(f"wait_for: waiting for {waiting}", flush=True)
            last_report = now
        time.sleep(min(interval, max(deadline - now, 0)))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
