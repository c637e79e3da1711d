"""Ports for processes that must listen where the test or bench tells them."""

from __future__ import annotations

import socket
from pathlib import Path

from devenv.ports import free_port_below_ephemeral


def test_ports_below_the_ephemeral_range_are_free_and_never_handed_out_twice() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port_below_ephemeral() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(10_000 <= port < low for port in ports)
    for port in ports[:20]:  # each one binds now
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
