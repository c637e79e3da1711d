"""Read commands over real ledger rows: /pnl (a real PNG), /positions, /fills, /status,
/backup."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from c2_harness import ADMIN, VIEWER, add_bot, add_fill, audit_rows, run, running_c2, wait_audit

from core.config import Role

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _seed(c2_env) -> None:
    add_bot(c2_env, "alpha_one", "a1", 3)
    now = datetime.now(UTC)
    # Long 2 @ 100, sell 1 @ 110 (+10 − fee 0.1): realized +9.9 today; 1 left open.
    add_fill(c2_env, "alpha_one", "e1", "Buy", "100", "2", "0", now - timedelta(seconds=2))
    add_fill(c2_env, "alpha_one", "e2", "Sell", "110", "1", "0.1", now - timedelta(seconds=1))


def test_pnl_sends_a_real_png_with_decimal_caption(c2_env) -> None:
    _seed(c2_env)

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            reply = await c2.send(VIEWER, "/pnl ALPHA_ONE day")
            assert reply.method == "sendPhoto"
            assert reply.files["photo"].startswith(PNG_SIGNATURE)
            assert len(reply.files["photo"]) > 1000
            assert "net +9.90 USDT" in reply.params["caption"]
            reply = await c2.send(VIEWER, "/pnl")
            assert reply.method == "sendPhoto" and "all bots, week" in reply.params["caption"]
            await wait_audit(c2_env, 2)

    run(scenario())
    assert [r["outcome"] for r in audit_rows(c2_env)] == ["accepted", "accepted"]


def test_positions_fills_and_status(c2_env) -> None:
    _seed(c2_env)
    c2_env.redis(3).set("bot:alpha_one:state", "running")
    c2_env.redis(3).set("bot:alpha_one:heartbeat", datetime.now(UTC).isoformat(), ex=60)
    # The fields the listener writes (websocket_listener/service.py ``status``).
    c2_env.redis(15).hset(
        "listener:status",
        mapping={
            "heartbeat": datetime.now(UTC).isoformat(),
            "main:connected": "1",
            "lag_ms": "42",
            "main:last_message_at": f"{time.time() - 1:.3f}",
        },
    )

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            reply = await c2.send(VIEWER, "/positions")
            assert "alpha_one BTCUSDT: LONG 1 @ 100" in reply.params["text"]
            reply = await c2.send(VIEWER, "/fills a1 1")
            lines = reply.params["text"].splitlines()
            assert len(lines) == 1 and "Sell 1 @ 110" in lines[0]
            reply = await c2.send(VIEWER, "/status")
            text = reply.params["text"]
            assert "alpha_one (a1): running" in text
            assert "1 open, today +9.90 USDT" in text
            assert "Listener: connected, lag 42 ms" in text
            assert "Last backup: none yet" in text

    run(scenario())


def test_backup_requests_one_and_reports_the_last(c2_env) -> None:
    with c2_env.connect(Role.OWNER) as conn:
        conn.execute(
            "INSERT INTO trading.backups (backup_date, status, error) "
            "VALUES (current_date, 'failed', 'disk full')"
        )

    async def scenario() -> None:
        async with running_c2(c2_env) as c2:
            reply = await c2.send(VIEWER, "/backup")
            assert "admin" in reply.params["text"]
            reply = await c2.send(ADMIN, "/backup")
            assert "Backup requested" in reply.params["text"]
            assert "failed" in reply.params["text"] and "disk full" in reply.params["text"]
            await wait_audit(c2_env, 2)

    run(scenario())
    requests = c2_env.redis(15).xrange("backup:requests")
    assert len(requests) == 1
    assert requests[0][1]["requested_by"] == f"telegram:{ADMIN}"
