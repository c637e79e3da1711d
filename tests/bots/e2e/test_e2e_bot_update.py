"""``alpha bots update`` on a running bot (bots/runtime/reload.py): risk limits and the
parameters its plugin allows apply at once, without a restart; a mode change is refused
live and the CLI says the bot needs a restart. Every reload is audited."""

from __future__ import annotations

import json
import logging
import threading
from decimal import Decimal

from core import redis_keys
from core.config import Role
from core.ids import BotId
from core.operator.bot_reload import Reload, request_reload
from tests.bots.e2e.harness import SYMBOL, stack, wait
from tests.bots.e2e.test_e2e_loss_limits import _bars
from tests.bots.e2e.test_e2e_restart import CONFIG
from tests.harness.services import settings_without

BOT = "ss_update"


def _update(database, *args: str):
    done = database.alpha("bots", "update", BOT, *args)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done.stdout


def test_a_running_bot_takes_risk_and_parameters_live_and_a_mode_change_needs_a_restart(
    database, redis, tmp_path
):
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "su1", "shortseller", CONFIG | {"cooldown_minutes": 0}, redis_db=1)
        bot = s.start_bot(BOT)
        out = _update(database, "--config", json.dumps({"risk": {"max_notional_per_symbol": "1"}}))
        assert f"{BOT} (running): applied: risk" in out, out
        s.play(3)  # bar 20: the cross that enters without the limit
        assert s.fills(BOT) == []
        # Lift the limit and halve the margin: the next entry is half the size.
        out = _update(database, "--config", json.dumps({"risk": {}, "margin_pct": "3.5"}))
        assert f"{BOT} (running): applied: config.margin_pct, risk" in out, out
        s.play(11)  # through bar 30: the next cross, at 59000
        entries = [f for f in s.fills(BOT) if f.reason == "entry"]
        # 10,000 x 3.5 % x 10 / 59,000 = 0.0593 -> 0.059 (at the registered 7 %: 0.118)
        assert [f.qty for f in entries] == [Decimal("0.059")]
        out = _update(database, "--mode", "demo")
        assert f"{BOT} (running) did not apply it: needs restart: mode" in out, out
        assert bot.host.reg.mode == "paper" and bot.thread.is_alive()
        # EMA periods are not live-safe for ShortSeller: nothing of the update applies.
        out = _update(database, "--config", json.dumps({"ema_fast": 4, "margin_pct": "5"}))
        assert "needs restart: mode" in out and "config.ema_fast (not applied live" in out
        assert bot.host.strategy.config.margin_pct == Decimal("3.5")
        bot_redis = s.bot_redis(BOT)
    # Stopped: its heartbeat lapses within 30 s (deleted here rather than waited for).
    bot_redis.delete(redis_keys.heartbeat(BotId(BOT)))
    out = _update(database, "--config", json.dumps({"margin_pct": "6"}))
    assert f"{BOT} is not running: the change applies when it starts" in out, out
    with database.connect(Role.OWNER) as conn:
        rows = conn.execute(
            "SELECT outcome, detail FROM trading.bot_commands WHERE command = 'reload' ORDER BY id"
        ).fetchall()
    assert [o for o, _ in rows] == ["pending", "accepted"] * 2 + ["pending", "refused"] * 2
    assert rows[1][1].endswith(": applied: risk")


def test_symbols_join_and_leave_a_running_bot(database, redis, tmp_path):
    history, live = _bars()
    exits = CONFIG["exits"][SYMBOL]
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "su1", "shortseller", CONFIG | {"cooldown_minutes": 0}, redis_db=1)
        bot = s.start_bot(BOT)
        topic = "kline.1.ETHUSDT"
        assert s._subscribers(topic) == 0
        both = json.dumps({"exits": {SYMBOL: exits, "ETHUSDT": exits}})
        out = _update(database, "--symbols", f"{SYMBOL},ETHUSDT", "--config", both)
        assert f"{BOT} (running): applied: config.exits, symbols +ETHUSDT" in out, out
        # Its rules fetched, its candles subscribed (after a warm-up), entries allowed.
        assert "ETHUSDT" in bot.host.orders.instruments
        assert s._subscribers(topic) == 1
        assert "ETHUSDT" in bot.host.universe
        # BTCUSDT leaves: its candles still come (a position would be managed), but the
        # cross at bar 20 that enters when BTCUSDT is the bot's is not entered.
        out = _update(database, "--symbols", "ETHUSDT")
        assert f"{BOT} (running): applied: symbols -{SYMBOL}" in out, out
        assert SYMBOL not in bot.host.universe and SYMBOL in bot.host.symbols
        s.play(3)
        with database.connect("readonly") as conn:
            held = conn.execute(
                "SELECT count(*) FROM trading.fills WHERE bot_id = %s AND symbol = %s",
                (BOT, SYMBOL),
            ).fetchone()
        assert held == (0,)


def test_a_reload_the_bots_database_is_away_for_is_refused_without_its_address(
    database, redis, tmp_path, caplog
):
    """The bot re-reads its registration to reload; with its database away it answers in
    the operator's words (the CLI's, the C2's and the API's reply) without libpq's
    message, which names the database's host, port and role, and keeps running."""
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "su1", "shortseller", CONFIG | {"cooldown_minutes": 0}, redis_db=1)
        bot = s.start_bot(BOT)
        bot.host.settings = settings_without(bot.host.settings, "database")
        away_port = str(bot.host.settings.pgbouncer.port)
        with caplog.at_level(logging.WARNING, logger="bots.runtime.host"):
            out = _update(database, "--config", json.dumps({"margin_pct": "3.5"}))
        assert f"{BOT} (running) did not apply it: refused: the database is unreachable" in out
        assert away_port not in out and "connection" not in out.lower(), out
        warned = [r.getMessage() for r in caplog.records if r.name == "bots.runtime.host"]
        assert any("reload" in m and "the database" in m for m in warned), warned
        assert bot.thread.is_alive() and not bot.errors
        assert bot.host.strategy.config.margin_pct != Decimal("3.5")


def test_a_reload_whose_connection_drops_mid_read_is_refused_and_the_bot_runs_on(
    database, redis, tmp_path, caplog
):
    """The other way the database can be away: the connection is made, then dropped in
    the middle of the registration's read (a bare ``OperationalError``, not a refused
    connect). Made to happen: the table is locked, so the read waits at the server, and
    its backend is terminated there. Before: the error escaped the command handler and
    ended the bot."""
    history, live = _bars()
    with stack(database, tmp_path, history + live, len(history)) as s:
        s.register(BOT, "su1", "shortseller", CONFIG | {"cooldown_minutes": 0}, redis_db=1)
        bot = s.start_bot(BOT)
        admin = database.connect("admin", autocommit=True)
        locker = database.connect("admin")
        try:
            locker.execute("LOCK TABLE trading.bots IN ACCESS EXCLUSIVE MODE")
            own = database.redis(1)  # the bot's DB: its command stream and replies
            answers: list[Reload] = []
            asking = threading.Thread(
                target=lambda: answers.append(request_reload(own, BotId(BOT), "test", "c-drop")),
                daemon=True,
            )
            asking.start()
            reading = "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'" \
                " AND query LIKE 'SELECT % FROM trading.bots WHERE bot_id = %'"  # fmt: skip
            pids = wait(lambda: admin.execute(reading).fetchall(), what="the read waits")
            with caplog.at_level(logging.WARNING, logger="bots.runtime.host"):
                for (pid,) in pids:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                asking.join(30)
        finally:
            locker.rollback()
            locker.close()
            admin.close()
        assert [a.answer for a in answers] == [
            "refused: the database is unreachable; nothing applied"
        ]
        warned = [r.getMessage() for r in caplog.records if r.name == "bots.runtime.host"]
        assert any("reload: the database unreachable" in m for m in warned), warned
        assert bot.thread.is_alive() and not bot.errors
