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
from core.notify import settings_of
from core.redis_client import stream_fields
from core.risk import RiskLimits
from deploy.rehearsal import observe, risk_check
from tests.harness.services import ServiceStack

PROBE = Path(__file__).resolve().parents[2] / "deploy/rehearsal/probes/risk.py"


def test_the_probe_reads_the_hosts_halt_lift_and_anchors(
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
    assert seen["anchors"]["ss_001"]["day"] == "2026-01-02"
    assert seen["anchors"]["ss_001"]["halt"] == ""
    (halt,) = risk_check.halts(seen["alerts"])["ss_001"]
    assert halt.lifted is not None and halt.lifted >= halt.at and not halt.by_operator


def test_the_capital_a_host_logged_is_read_from_its_json_log_line() -> None:
    message = "bot momentum_001: capital 9999.5 (account equity 10000 at start)"
    line = json.dumps({"level": "INFO", "logger": "bots.runtime.capital", "msg": message})
    later = line.replace("9999.5", "10012.25")  # a restart recomputes it; the first counts
    assert observe._CAPITAL_LINE.findall(line + "\n" + later)[0] == ("momentum_001", "9999.5")
