"""One listener at a time: its lease in real Redis, in process and as two real
``alpha run listener`` processes.

Two listeners would each fold only the fills they inserted and overwrite each other's
position hashes in Redis; a cluster engine starts a second one when a partition hides
the first from its manager (deploy/README.md#docker-swarm).
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import threading
import time
from typing import Any

import pytest
from pydantic import SecretStr

from core import redis_keys
from core.config import ListenerSettings
from core.lease import LeaseHeld, LeaseLost
from core.redis_client import infra_client
from devenv.ports import free_port, wait_until
from devenv.redis_server import RedisServer
from tests.websocket_listener.helpers import (
    SHARED,
    execution,
    listener_env,
    register_bots,
    spawn_listener,
)
from trade_sync.handover import hand_over
from websocket_listener.ledger_fence import take
from websocket_listener.service import Listener

OTHER_HOST = "another-host"


def _listener(database, tmp_path) -> Listener:
    settings = dataclasses.replace(
        database.settings, listener=ListenerSettings(spool_dir=tmp_path / "spool")
    )
    return Listener(settings, application_name="test-single-listener")


def _run_in_thread(listener: Listener, stop: threading.Event) -> tuple[threading.Thread, list]:
    raised: list[BaseException] = []

    def run() -> None:
        try:
            listener.run(stop)
        except BaseException as exc:  # handed to the test
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, raised


def test_a_live_listener_elsewhere_keeps_a_second_from_starting(database, redis, tmp_path):
    infra = infra_client(database.settings)
    alive = threading.Event()
    alive.set()

    def keep() -> None:  # a listener on another host, renewing its lease
        while alive.is_set():
            infra.set(redis_keys.LISTENER_LEASE, f"{OTHER_HOST}:4242:abc", px=1000)
            time.sleep(0.25)

    keeper = threading.Thread(target=keep, daemon=True)
    keeper.start()
    try:
        assert wait_until(lambda: infra.get(redis_keys.LISTENER_LEASE), 20)
        listener = _listener(database, tmp_path)
        listener.lease_seconds = 1
        started = time.monotonic()
        with pytest.raises(LeaseHeld, match=f"the listener is already running \\({OTHER_HOST}"):
            listener.run(threading.Event())
        assert time.monotonic() - started < 4  # one lease at most
        assert LeaseHeld.exit_code == 73
        # It never began: no writer thread, no socket, nothing in the ledger's way.
        assert not listener.pipeline.is_alive()
        assert not listener.streams and listener.handover is None
    finally:
        alive.clear()
        keeper.join(5)


def test_a_second_listener_leaves_the_first_ones_spool_alone(database, redis, tmp_path):
    """The first listener may be appending to its spool (an outage) when a second one
    starts on the same directory: the second must not read or cut it before it holds
    the lease. (A spool's last line without its newline is an append under way.)"""
    spool = tmp_path / "spool"
    spool.mkdir()
    segment = spool / "000000000001.jsonl"
    segment.write_bytes(b'{"complete": 1}\n{"being writ')
    infra = infra_client(database.settings)
    infra.set(redis_keys.LISTENER_LEASE, f"{OTHER_HOST}:4242:abc", px=60_000)
    listener = _listener(database, tmp_path)
    listener.lease_seconds = 0.5
    checks = listener.health_checks()
    assert checks["spool"]() == "ok"  # health is served while it waits for the lease
    with pytest.raises(LeaseHeld):
        listener.run(threading.Event())
    assert segment.read_bytes() == b'{"complete": 1}\n{"being writ'


def test_a_listener_that_finds_its_lease_taken_stops(database, redis, tmp_path):
    infra = infra_client(database.settings)
    listener = _listener(database, tmp_path)
    listener.lease_seconds = 0.6
    stop = threading.Event()
    thread, raised = _run_in_thread(listener, stop)
    try:
        assert wait_until(listener.pipeline.is_alive, 20), "the writer did not start"
        ours = infra.get(redis_keys.LISTENER_LEASE)
        assert ours and f":{os.getpid()}:" in ours
        infra.set(redis_keys.LISTENER_LEASE, f"{OTHER_HOST}:1:x", px=5000)  # a second one
        thread.join(10)
        assert not thread.is_alive(), "the listener kept running beside another"
    finally:
        stop.set()
        thread.join(10)
    assert len(raised) == 1 and isinstance(raised[0], LeaseLost), raised
    assert "another process now holds the lease" in str(raised[0])
    assert LeaseLost.exit_code == 74
    assert not listener.pipeline.is_alive()
    # The newcomer's lease is left alone.
    assert infra.get(redis_keys.LISTENER_LEASE) == f"{OTHER_HOST}:1:x"


def test_a_stopped_listener_releases_its_lease(database, redis, tmp_path):
    infra = infra_client(database.settings)
    listener = _listener(database, tmp_path)
    stop = threading.Event()
    thread, raised = _run_in_thread(listener, stop)
    assert wait_until(listener.pipeline.is_alive, 20), "the writer did not start"
    assert infra.get(redis_keys.LISTENER_LEASE)
    stop.set()
    thread.join(15)
    assert not thread.is_alive() and not raised, raised
    assert infra.get(redis_keys.LISTENER_LEASE) is None  # the next one starts at once


def test_a_listener_started_before_redis_waits_for_it(database, tmp_path):
    server = RedisServer(run_dir=tmp_path / "redis", port=free_port())  # not started yet
    redis_settings = database.settings.redis.model_copy(
        update={"host": server.host, "port": server.port, "password": SecretStr(server.password)}
    )
    settings = dataclasses.replace(
        database.settings,
        redis=redis_settings,
        listener=ListenerSettings(spool_dir=tmp_path / "spool"),
    )
    listener = Listener(settings, application_name="test-single-listener")
    stop = threading.Event()
    thread, raised = _run_in_thread(listener, stop)
    try:
        time.sleep(2.5)
        # Waiting, neither crashed nor writing without the lease.
        assert thread.is_alive() and not raised, raised
        assert not listener.pipeline.is_alive()
        server.start()
        assert wait_until(lambda: listener.pipeline.is_alive() or not thread.is_alive(), 20)
        assert not raised, raised
        holder = server.client(settings.redis.infra_db).get(redis_keys.LISTENER_LEASE)
        assert holder and f":{os.getpid()}:" in holder
    finally:
        stop.set()
        thread.join(15)
        server.stop(sig=signal.SIGKILL)
    assert not thread.is_alive() and not raised, raised


def _spawn(env: dict[str, str], cwd: Any) -> subprocess.Popen[str]:
    return spawn_listener(env, cwd, subprocess.PIPE)


@pytest.mark.slow
def test_second_process_exits_and_kill_9_lets_a_new_one_take_over(database, redis, tmp_path):
    infra = infra_client(database.settings)
    env = listener_env(database, tmp_path / "spool")
    first = _spawn(env, tmp_path)
    try:
        assert wait_until(lambda: infra.get(redis_keys.LISTENER_LEASE) or first.poll() is not None,
                          60)  # fmt: skip
        assert first.poll() is None, first.communicate()[0]
        assert f":{first.pid}:" in infra.get(redis_keys.LISTENER_LEASE)

        second = _spawn(env, tmp_path)
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 73, out
        assert "alpha: error: the listener is already running" in out
        assert "Traceback" not in out
        assert first.poll() is None  # the holder was not disturbed
        assert f":{first.pid}:" in infra.get(redis_keys.LISTENER_LEASE)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)

    # The holder died without releasing: a restart on this host takes over at once
    # (a restarted container keeps its hostname), not after the lease's 15 s.
    started = time.monotonic()
    third = _spawn(env, tmp_path)
    try:
        assert wait_until(lambda: f":{third.pid}:" in (infra.get(redis_keys.LISTENER_LEASE) or "")
                          or third.poll() is not None, 30)  # fmt: skip
        assert third.poll() is None, third.communicate()[0]
        assert time.monotonic() - started < 12
    finally:
        os.killpg(third.pid, signal.SIGTERM)
        out, _ = third.communicate(timeout=30)
    assert third.returncode == 0, out
    assert infra.get(redis_keys.LISTENER_LEASE) is None  # SIGTERM released it


@pytest.mark.slow
def test_a_running_listener_the_ledger_is_taken_from_exits_74(database, redis, tmp_path):
    """The case the lease cannot cover: another listener took the ledger over (it holds
    the lease now; this one lost Redis meanwhile). This one's next batch is refused and
    the process exits 74 with one line; the refused execution waits, unacknowledged, on
    the hand-over stream for the ledger's writer."""
    register_bots(database, SHARED)
    infra = infra_client(database.settings)
    env = listener_env(database, tmp_path / "spool")
    now = int(time.time() * 1000)
    first, second = (
        execution(SHARED[0], side="Buy", qty="1", price="100", exec_time=now - at)
        for at in (2_000, 1_000)
    )

    def in_ledger(item: dict[str, Any]) -> bool:
        with database.connect("readonly") as conn:
            row = conn.execute("SELECT 1 FROM trading.fills WHERE exec_id = %s", (item["execId"],))
            return row.fetchone() is not None

    proc = _spawn(env, tmp_path)
    try:
        hand_over(infra, "main", "execution", [first])
        assert wait_until(lambda: in_ledger(first) or proc.poll() is not None, 60)
        assert proc.poll() is None, proc.communicate()[0]
        with database.connect("listener", autocommit=True) as conn:
            assert f":{proc.pid}:" in take(conn, "elsewhere:1:dddd")
        hand_over(infra, "main", "execution", [second])
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    assert proc.returncode == 74, out
    assert (
        "alpha: error: the listener stopped: another listener (elsewhere:1:dddd) took the"
        " ledger over; this one writes nothing more" in out
    )
    assert "Traceback" not in out
    assert not in_ledger(second)
    pending = infra.xpending(redis_keys.HANDOVER, redis_keys.HANDOVER_GROUP)
    assert pending["pending"] == 1  # left for the ledger's writer, not lost
