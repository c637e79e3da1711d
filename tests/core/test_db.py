"""core.db, core.redis_client and core.service against the real servers."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace

import psycopg
import pytest
from prometheus_client import CollectorRegistry, Counter
from pydantic import SecretStr
from sqlalchemy import text

from core import db
from core.config import Role, ServiceSettings
from core.redis_client import async_redis_client, redis_client
from core.service import HealthServer, configure_logging, secret_values
from devenv.ports import free_port


def test_conninfo_goes_through_pgbouncer_unless_direct(database) -> None:
    s = database.settings
    pooled = psycopg.conninfo.conninfo_to_dict(db.conninfo(s, Role.APP))
    direct = psycopg.conninfo.conninfo_to_dict(db.conninfo(s, Role.APP, direct=True))
    assert int(pooled["port"]) == s.pgbouncer.port and int(direct["port"]) == s.postgres.port
    assert pooled["user"] == f"{s.db_roles.role_prefix}_app" and pooled["application_name"]
    masked = db.masked_conninfo(db.conninfo(s, Role.APP))
    assert s.db_roles.app_password.get_secret_value() not in masked and "**********" in masked


@pytest.mark.parametrize("direct", [True, False])
def test_connect_as_each_role(database, direct: bool) -> None:
    for role in Role:
        with db.connect(database.settings, role, direct=direct) as conn:
            user = conn.execute("SELECT current_user").fetchone()
            assert user == (database.settings.db_roles.name(role),)
            assert conn.prepare_threshold == (5 if direct else None)


def test_transaction_pooling_survives_repeated_statements(database) -> None:
    # With prepared statements this fails through PgBouncer in transaction mode
    # (a statement prepared on one server connection is executed on another).
    eng = db.engine(database.settings, Role.READONLY)
    clients = [eng.connect() for _ in range(3)]
    try:
        for i in range(30):
            conn = clients[i % 3]
            assert conn.execute(text("SELECT count(*) FROM trading.bots WHERE bot_id <> :x"),
                                {"x": f"b{i}"}).scalar() == 1  # fmt: skip
            conn.commit()
    finally:
        for conn in clients:
            conn.close()
        eng.dispose()
    assert database.settings.db_roles.readonly_password.get_secret_value() not in repr(eng)


def test_async_connect(database) -> None:
    async def go() -> tuple:
        conn = await db.async_connect(database.settings, Role.APP)
        async with conn:
            cur = await conn.execute("SELECT current_user")
            return await cur.fetchone()

    assert asyncio.run(go()) == (database.settings.db_roles.name(Role.APP),)


def test_connection_errors_never_show_the_password(database) -> None:
    wrong = database.settings.db_roles.model_copy(
        update={"app_password": SecretStr("definitely-wrong-pw")}
    )
    settings = replace(database.settings, db_roles=wrong)
    with pytest.raises(db.DatabaseUnavailableError) as failed:
        db.connect(settings, Role.APP)  # PgBouncer checks SCRAM: refused
    assert "definitely-wrong-pw" not in str(failed.value)
    assert "cannot connect to PostgreSQL as" in str(failed.value) and "\n" not in str(failed.value)
    assert isinstance(failed.value, psycopg.OperationalError)  # reconnect loops still catch it


def test_admin_connect_is_autocommit(database) -> None:
    with db.admin_connect(database.settings) as conn:
        assert conn.autocommit


def test_redis_clients(database, redis) -> None:
    client = redis_client(database.settings, 3)
    client.set("k", "v")
    assert client.get("k") == "v" and redis.get("k") is None  # db 3, decoded
    assert database.settings.redis.password.get_secret_value() not in repr(client)
    assert database.settings.redis.password.get_secret_value() not in repr(client.connection_pool)

    async def go() -> str | None:
        aclient = async_redis_client(database.settings, 3)
        try:
            return await aclient.get("k")
        finally:
            await aclient.aclose()

    assert asyncio.run(go()) == "v"
    nopw = replace(database.settings, redis=database.settings.redis.model_copy(
        update={"password": None}))  # fmt: skip
    with pytest.raises(Exception, match=r"(?i)auth"):
        redis_client(nopw, 3).get("k")


def test_private_redis_is_configured_for_the_design(services) -> None:
    cfg = services.redis(0).config_get("*")
    assert cfg["appendonly"] == "yes" and cfg["appendfsync"] == "everysec"
    assert cfg["maxmemory-policy"] == "noeviction"


# --- core.service ------------------------------------------------------------------------


def test_json_logs_are_one_object_per_line_and_redacted() -> None:
    out = io.StringIO()
    configure_logging(ServiceSettings(log_format="json"), "svc", secrets=["s3cr3t-value"],
                      stream=out)  # fmt: skip
    log = logging.getLogger("alpha.test")
    log.info("connecting with %s and password=hunter2", "s3cr3t-value", extra={"bot_id": "b1"})
    try:
        raise RuntimeError("boom s3cr3t-value")
    except RuntimeError:
        log.exception("failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["service"] == "svc" and first["level"] == "INFO" and first["bot_id"] == "b1"
    assert "s3cr3t-value" not in out.getvalue() and "hunter2" not in out.getvalue()
    assert "RuntimeError" in second["exc"]


def test_text_logs_in_auto_mode_on_a_terminal_like_stream() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    configure_logging(ServiceSettings(log_format="auto"), "svc", stream=out)
    logging.getLogger("alpha.test").warning("hello")
    assert "WARNING" in out.getvalue() and not out.getvalue().startswith("{")
    configure_logging(ServiceSettings(log_format="auto"), "svc", stream=io.StringIO())
    assert len([h for h in logging.getLogger().handlers if getattr(h, "_alpha", False)]) == 1


def test_secret_values_cover_the_configured_secrets(database) -> None:
    values = secret_values(database.settings)
    assert database.settings.db_roles.owner_password.get_secret_value() in values
    assert database.settings.redis.password.get_secret_value() in values


def test_health_server() -> None:
    registry = CollectorRegistry()
    Counter("alpha_test_total", "a test counter", registry=registry).inc(3)
    state = {"redis": True}
    server = HealthServer("127.0.0.1", 0, {"db": lambda: True, "redis": lambda: state["redis"]},
                          registry=registry).start()  # fmt: skip
    try:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
            assert resp.status == 200 and json.load(resp)["status"] == "ok"
        state["redis"] = False
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
        assert failed.value.code == 503
        assert json.load(failed.value)["checks"]["redis"]["ok"] is False
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as resp:
            assert "alpha_test_total 3.0" in resp.read().decode()
    finally:
        server.stop()


def test_healthz_never_answers_who_connects_where(database, caplog) -> None:
    """A failing connection's message names role@host:port/db: logged, not answered."""
    unreachable = replace(
        database.settings,
        pgbouncer=database.settings.pgbouncer.model_copy(update={"port": free_port()}),
    )

    def db_check() -> bool:
        db.connect(unreachable, Role.APP).close()
        return True

    server = HealthServer("127.0.0.1", 0, {"db": db_check}).start()
    try:
        with caplog.at_level(logging.WARNING, logger="alpha.health"):
            for _probe in range(3):
                with pytest.raises(urllib.error.HTTPError) as failed:
                    urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5)
                body = failed.value.read().decode()
                assert failed.value.code == 503
                role = database.settings.db_roles.name(Role.APP)
                assert role not in body and "@" not in body and str(database.name) not in body
                assert json.loads(body)["checks"]["db"]["detail"] == (
                    "DatabaseUnavailableError (the reason is in the service's log)"
                )
        logged = [r.getMessage() for r in caplog.records if r.name == "alpha.health"]
        assert len(logged) == 1 and f"as {role}@" in logged[0]  # once while it repeats
    finally:
        server.stop()


def test_sigterm_stops_gracefully(tmp_path) -> None:
    script = (
        "import threading, sys\n"
        "from core.service import run_until_signalled\n"
        "stop = threading.Event()\n"
        "print('ready', flush=True)\n"
        "run_until_signalled(stop)\n"
        "print('stopped cleanly', flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=os.getcwd(), stdin=subprocess.DEVNULL)  # fmt: skip
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert proc.stdout.read().strip() == "stopped cleanly"


def test_a_kept_connection_is_opened_once_and_again_only_after_a_failure(
    database, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []
    real_connect = psycopg.connect

    def counting_connect(*args: object, **kwargs: object) -> psycopg.Connection:
        conn = real_connect(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(conn)
        return conn

    monkeypatch.setattr(db.psycopg, "connect", counting_connect)
    reads = db.KeptConnection(database.settings, Role.BOT)
    try:
        for _ in range(20):
            with reads.use() as conn:
                assert conn.execute("SELECT count(*) FROM trading.bots").fetchone() == (1,)
        assert len(opened) == 1 and opened[0].autocommit  # type: ignore[attr-defined]
        with pytest.raises(psycopg.errors.UndefinedTable), reads.use() as conn:
            conn.execute("SELECT * FROM no_such_table")
        with reads.use() as conn:  # the failure closed it: a fresh one
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert len(opened) == 2 and opened[0].closed  # type: ignore[attr-defined]
        opened[1].close()  # type: ignore[attr-defined]
        with reads.use() as conn:  # closed under it (a dropped socket): reopened
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert len(opened) == 3
    finally:
        reads.close()
    assert opened[2].closed  # type: ignore[attr-defined]


def test_a_bots_per_bar_ledger_reads_share_one_connection(
    database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bot asked the ledger for its orders' states with a new connection on every
    candle and every exit fill (twice a bar in bench/reaction.py, ~3 ms of CPU each)."""
    from bots.runtime.exchange_cancels import ended_by_exchange
    from bots.runtime.exit_ends import ExitEnds
    from core.ids import BotId
    from core.orders import TrackedOrder

    opened: list[object] = []
    real_connect = psycopg.connect
    monkeypatch.setattr(db.psycopg, "connect",
                        lambda *a, **k: opened.append(1) or real_connect(*a, **k))  # fmt: skip
    stop = TrackedOrder("i1", "ab1-sl-x-1", "BTCUSDT", "stop", "Sell", "0.01", "stop_loss")
    bot = BotId("external")
    reads = db.KeptConnection(database.settings, Role.BOT)
    ends = ExitEnds(reads, bot)
    try:
        for _ in range(10):
            ends.filled(stop)
            assert ends.finished(force=True) == []  # not final in the ledger
            assert ended_by_exchange(reads, bot, [stop]) == []
    finally:
        reads.close()
    assert len(opened) == 1
