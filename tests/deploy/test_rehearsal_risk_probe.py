"""The rehearsal's risk probe (deploy/rehearsal/probes/risk.py) on a real Redis, fed by the
host's own LossLimits and Notifier: what it reads is what the risk check gets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import redis as redis_lib

from bots.runtime.loss_limits import LossLimits
from bots.runtime.notify import Notifier
from core import redis_keys
from core.config import Role
from core.notify import settings_of
from core.orders import Outcome, Result
from core.redis_client import stream_fields
from core.risk import RiskLimits
from core.strategy import EnterMarket
from deploy.rehearsal import observe, risk_check
from tests.database.analytics.ledger import add_bot
from tests.harness.services import Database, ServiceStack

PROBE = Path(__file__).resolve().parents[2] / "deploy/rehearsal/probes/risk.py"


def test_the_probe_reads_the_hosts_halt_lift_rejections_and_anchors(
    redis: redis_lib.Redis, services: ServiceStack
) -> None:
    infra, bot_db = services.redis(15), services.redis(1)
    notifier = Notifier(
        "ss_001", settings_of({}),
        lambda fields: infra.xadd(redis_keys.ALERTS, stream_fields(fields)),  # type: ignore[arg-type]
    )  # fmt: skip
    limits = LossLimits(bot_db, "ss_001", RiskLimits(max_daily_loss_pct=Decimal(5)), notifier)
    day = datetime(2026, 1, 1, tzinfo=UTC)
    limits.observe(day, Decimal(1000))
    infra.xadd(redis_keys.ALERTS, {"kind": "trade_entry", "bot_id": "ss_001", "text": "in"})
    limits.observe(day + timedelta(hours=1), Decimal(940))  # −6 %: halted
    limits.observe(day + timedelta(days=1), Decimal(940))  # the next UTC day lifts it
    entry = EnterMarket("i1", "LINKUSDT", "Buy", Decimal("1.2345"))
    notifier.order_rejected(
        Result(Outcome.REJECTED, entry, "ss1-en-1-1", "10001: Qty invalid", None, 10001)
    )
    kwargs = redis.connection_pool.connection_kwargs
    *user, password = kwargs["credential_provider"].get_credentials()
    env = {**os.environ, "REDIS_HOST": str(kwargs["host"]), "REDIS_PORT": str(kwargs["port"]),
           "REDIS_PASSWORD": password, "REDIS_INFRA_DB": "15"}  # fmt: skip
    env.pop("REDIS_USERNAME", None)
    if user and user[0]:
        env["REDIS_USERNAME"] = user[0]
    out = subprocess.run(
        [sys.executable, "-", "ss_001:1"], input=PROBE.read_text(encoding="utf-8"),
        capture_output=True, text=True, env=env, check=False, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert [a["kind"] for a in seen["alerts"]] == ["risk_halt", "risk_lift"]
    assert "daily loss 6.00% from 1000 at 00:00 UTC ≥ 5%" in seen["alerts"][0]["text"]
    assert [a["market_time"] for a in seen["alerts"]] == [
        "2026-01-01T01:00:00+00:00", "2026-01-02T00:00:00+00:00"]  # fmt: skip
    assert seen["rejections"] == [{
        "bot_id": "ss_001", "code": "10001", "symbol": "LINKUSDT",
        "text": "ss_001: order rejected by the exchange (EnterMarket Buy 1.2345 LINKUSDT):"
                " 10001: Qty invalid",
    }]  # fmt: skip
    assert seen["anchors"]["ss_001"]["day"] == "2026-01-02"
    assert seen["anchors"]["ss_001"]["halt"] == ""
    (halt,) = risk_check.halts(seen["alerts"])["ss_001"]
    assert (halt.at, halt.lifted, halt.by_operator) == (
        day + timedelta(hours=1), day + timedelta(days=1), False)  # fmt: skip


def test_the_capital_a_host_logged_is_read_from_its_json_log_line() -> None:
    message = "bot momentum_001: capital 9999.5 (account equity 10000 at start)"
    line = json.dumps({"level": "INFO", "logger": "bots.runtime.capital", "msg": message})
    later = line.replace("9999.5", "10012.25")  # a restart recomputes it; the first counts
    assert observe._CAPITAL_LINE.findall(line + "\n" + later)[0] == ("momentum_001", "9999.5")


class _Psql:
    """The stack's ``psql`` helper (same flags and text output) on a test database."""

    def __init__(self, database: Database) -> None:
        stack = database.stack
        self.args = ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                     "-h", stack.admin_settings.host, "-p", str(stack.admin_settings.port),
                     "-U", stack.superuser_name, "-d", database.name]  # fmt: skip
        self.env = {**os.environ, "PGPASSWORD": stack.superuser_password}

    def psql(self, sql: str) -> list[list[str]]:
        out = subprocess.run(self.args, input=sql, capture_output=True, text=True,
                             env=self.env, check=True, timeout=60).stdout  # fmt: skip
        return [line.split("\t") for line in out.splitlines() if line]


def test_the_ledger_queries_give_the_check_what_it_folds(database: Database) -> None:
    """observe.fills / funding on a real ledger: market times, the order's placement, fees
    and funding as the check reads them, and the check's figures from them."""
    add_bot(database, "ss_001")
    at = datetime(2026, 1, 1, 10, tzinfo=UTC)
    with database.connect(Role.LISTENER, True) as conn:
        conn.execute(
            "INSERT INTO trading.orders (account, order_id, bot_id, symbol, side, order_type,"
            " status, qty, created_time, raw) VALUES"
            " ('main', 'o1', 'ss_001', 'BTCUSDT', 'Buy', 'Limit', 'Filled', 1, %s, '{}')",
            (at - timedelta(minutes=30),),
        )
        conn.execute(
            "INSERT INTO trading.fills (account, exec_id, bot_id, symbol, side, exec_price,"
            " exec_qty, exec_value, exec_fee, exec_time, seq, source, raw, order_id) VALUES"
            " ('main', 'e1', 'ss_001', 'BTCUSDT', 'Buy', 100, 1, 100, 0.25, %s, 7, 'ws', '{}',"
            " 'o1'),"
            " ('main', 'e2', 'ss_001', 'BTCUSDT', 'Sell', 90, 1, 90, 0.25, %s, 8, 'ws', '{}', '')",
            (at, at + timedelta(hours=1)),
        )
        conn.execute(
            "INSERT INTO trading.funding (account, exec_id, bot_id, symbol, side, funding_fee,"
            " exec_time, source, raw) VALUES ('main', 'f1', 'ss_001', 'BTCUSDT', 'Buy', 0.5, %s,"
            " 'ws', '{}')",
            (at + timedelta(minutes=30),),
        )
    stack = _Psql(database)
    fills = observe.fills(stack)  # type: ignore[arg-type]
    funding = observe.funding(stack)  # type: ignore[arg-type]
    assert [(f["exec_id"], f["exec_time"], f["order_created"], f["seq"]) for f in fills] == [
        ("e1", "2026-01-01T10:00:00.000000", "2026-01-01T09:30:00.000000", "7"),
        ("e2", "2026-01-01T11:00:00.000000", "", "8"),
    ]
    assert funding[0]["exec_time"] == "2026-01-01T10:30:00.000000"
    ok, detail = risk_check.summarize(
        [{"bot_id": "ss_001", "config": {"risk": {"max_daily_loss_pct": "1"}}}], ["ss_001"],
        {"ss_001": "1000"}, fills, funding, [],
    )  # fmt: skip
    # 1000 − 10 − 0.25 − 0.25 − 0.5 = 989: a 1.1 % loss of the day, no entry after it.
    assert ok and detail.endswith("ss_001 day -1.10%/1% dd 1.10%/-% no halt"), detail
