"""A database connection behind a network partition (packets dropped, nothing reset)
fails within seconds, instead of waiting as long as TCP retransmits (about 15 minutes on
Linux): the listener then spools and says the database is unreachable, trade sync and
the C2 answer that it is. The partition is real: iptables drops the packets of one
forwarded port on the loopback interface, so nothing acknowledges what the client sends.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from harness.partition import Partition

from core import db
from core.config import Role

#: The test waits this long for the query to end either way.
WAIT_S = 60


def _iptables(action: str, port: int) -> None:
    for direction in ("--dport", "--sport"):
        subprocess.run(["iptables", action, "INPUT", "-i", "lo", "-p", "tcp", direction,
                        str(port), "-j", "DROP"], check=True, timeout=30)  # fmt: skip


@pytest.mark.skipif(os.geteuid() != 0, reason="iptables needs root (CI runs as root)")
def test_a_query_behind_a_partition_fails_within_seconds(database) -> None:
    s = database.settings
    forwarder = Partition(s.pgbouncer.host, s.pgbouncer.port)  # a port of its own to drop
    moved = replace(s, pgbouncer=s.pgbouncer.model_copy(update={"port": forwarder.port}))
    conn = db.connect(moved, Role.APP, autocommit=True)
    conn.execute("SELECT 1")
    outcome: dict[str, Any] = {}

    def query() -> None:
        began = time.monotonic()
        try:
            conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            outcome["error"] = exc
        outcome["took"] = time.monotonic() - began

    _iptables("-I", forwarder.port)
    try:
        waiting = threading.Thread(target=query, daemon=True)
        waiting.start()
        waiting.join(WAIT_S)
        assert not waiting.is_alive(), f"the query still waited after {WAIT_S} s"
    finally:
        _iptables("-D", forwarder.port)
        forwarder.close()
    assert "error" in outcome, outcome
    assert outcome["took"] < 30, outcome
    conn.close()
