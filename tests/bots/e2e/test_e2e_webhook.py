"""A ``webhook`` bot on the paper exchange, driven over HTTP as TradingView drives it.

The real stack: the API on a free port, the bot host, the listener, PostgreSQL, Redis
and the paper exchange with pybit. An alert in TradingView's format opens a position
with its stop; the same alert id again does nothing; a wrong secret and a stale alert
are refused and recorded; an exit alert closes the position and cancels the stop. The
fills are the bot's in the ledger, with its link ids, and every delivery is a row of
``trading.webhook_signals`` with its outcome.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from api import webhook_secrets
from core import redis_keys
from core.link_ids import Reason
from tests.api.api_harness import running_api
from tests.bots.e2e.harness import SYMBOL, flat_bars, stack, wait

BOT = "wh_tv"
CODE = "wh1"


def _alert(secret: str, alert_id: str, action: str, **extra: object) -> dict[str, object]:
    """What a TradingView alert's message sends, placeholders filled in."""
    return {
        "secret": secret,
        "id": alert_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),  # {{timenow}}
        "action": action,
        "symbol": f"{SYMBOL}.P",  # {{ticker}} of a perpetual
        **extra,
    }


def _signals(database) -> list[tuple[str | None, str]]:
    with database.connect("owner", direct=True) as conn:
        rows = conn.execute(
            "SELECT alert_id, outcome FROM trading.webhook_signals WHERE bot_id = %s ORDER BY id",
            (BOT,),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def _resting(s) -> list[str]:
    return sorted(o["orderLinkId"].split("-")[1] for o in s.open_orders(BOT))


def test_tradingview_alerts_open_and_close_a_position_through_the_ledger(database, redis, tmp_path):
    with stack(database, tmp_path, flat_bars(60000, 40), 30) as s:
        s.register(BOT, CODE, "webhook", {"symbols": [SYMBOL]}, redis_db=5)
        with database.connect("owner", direct=True) as conn:
            secret = webhook_secrets.set_secret(conn, BOT)
        s.start_bot(BOT)
        commands = s.bot_redis(BOT)
        stream = redis_keys.commands_stream(BOT)  # type: ignore[arg-type]
        url = f"/webhook/{BOT}"
        with running_api(database) as api:
            enter = _alert(secret, "tv-1", "enter_long", qty="0.01", stop=59000)
            reply = api.post(url, json=enter)
            assert (reply.status_code, reply.json()["outcome"]) == (202, "accepted")
            wait(lambda: s.qty(BOT) == Decimal("0.01"), what="the long to open")
            s.settle()
            wait(lambda: _resting(s) == [Reason.SL.value], what="the stop")
            [stop] = s.open_orders(BOT)
            assert (stop["side"], Decimal(stop["triggerPrice"]), Decimal(stop["qty"])) == (
                "Sell", Decimal(59000), Decimal("0.01"),
            )  # fmt: skip

            # TradingView retries a delivery it thinks failed: the same id does nothing.
            placed = len(s.orders())
            again = api.post(url, json=enter)
            assert (again.status_code, again.json()["outcome"]) == (200, "duplicate")
            wrong = api.post(url, json={**_alert("whs_not-it", "tv-9", "exit")})
            assert (wrong.status_code, wrong.json()["outcome"]) == (401, "bad_secret")
            old = datetime.now(UTC) - timedelta(minutes=10)
            stale = api.post(url, json={**_alert(secret, "tv-8", "exit"), "time": old.isoformat()})
            assert (stale.status_code, stale.json()["outcome"]) == (422, "stale")
            assert secret not in wrong.text + stale.text + again.text
            s.play(1)
            assert len(s.orders()) == placed and s.qty(BOT) == Decimal("0.01")
            assert commands.xlen(stream) == 1  # only the accepted alert reached the bot

            closed = api.post(url, json=_alert(secret, "tv-2", "exit"))
            assert (closed.status_code, closed.json()["outcome"]) == (202, "accepted")
            wait(lambda: s.qty(BOT) == 0, what="the exit")
            s.settle()
            wait(lambda: _resting(s) == [], what="the stop to be cancelled")

        fills = s.fills(BOT)
        assert [(f.side, f.qty, f.link.split("-")[:2]) for f in fills] == [
            ("Buy", Decimal("0.01"), [CODE, Reason.ENTRY.value]),
            ("Sell", Decimal("0.01"), [CODE, Reason.EXIT.value]),
        ]
        assert all(f.account == "main" for f in fills)
        assert s.analytics(BOT)[0] == 0
        assert _signals(database) == [
            ("tv-1", "accepted"),
            ("tv-1", "duplicate"),
            ("tv-9", "bad_secret"),
            ("tv-8", "stale"),
            ("tv-2", "accepted"),
        ]
        with database.connect("owner", direct=True) as conn:
            payloads = conn.execute(
                "SELECT payload::text FROM trading.webhook_signals WHERE bot_id = %s", (BOT,)
            ).fetchall()
        assert payloads and not any(secret in p[0] or "whs_not-it" in p[0] for p in payloads)


def _handled(s, bot_id: str) -> bool:
    """Every command-stream entry delivered to the bot and acknowledged."""
    r = s.bot_redis(bot_id)
    groups = r.xinfo_groups(redis_keys.commands_stream(bot_id))  # type: ignore[arg-type]
    return (
        all(not g["pending"] and not g.get("lag") for g in groups)
        and s.bots[bot_id].host.events.empty()
    )


def test_risk_sizing_a_paused_entry_and_a_moved_stop_that_fires(database, redis, tmp_path):
    bars = [*flat_bars(60000, 31), (60000, 60700, 60000, 60650), *flat_bars(60650, 4)]
    with stack(database, tmp_path, bars, 30) as s:
        s.register(BOT, CODE, "webhook", {"symbols": [SYMBOL], "pyramiding": True}, redis_db=5)
        with database.connect("owner", direct=True) as conn:
            secret = webhook_secrets.set_secret(conn, BOT)
        s.start_bot(BOT)
        url = f"/webhook/{BOT}"
        with running_api(database) as api:
            # 1 % of the bot's 10,000 lost over the 1,000 from the last close to the stop.
            short = _alert(secret, "r-1", "enter_short", risk_pct=1, stop="61000")
            assert api.post(url, json=short).status_code == 202
            wait(lambda: s.qty(BOT) == Decimal("-0.1"), what="the short to open")
            s.settle()
            wait(lambda: _resting(s) == [Reason.SL.value], what="the stop")

            # Paused: the alert is accepted and delivered, the bot's risk gate refuses it.
            s.set_state(BOT, "paused")
            more = _alert(secret, "r-2", "enter_short", qty="0.05")
            assert api.post(url, json=more).status_code == 202
            wait(lambda: _handled(s, BOT), what="the paused entry to be handled")
            s.settle()
            assert s.qty(BOT) == Decimal("-0.1") and _resting(s) == [Reason.SL.value]

            # Moving the stop is no entry: it goes through while paused.
            assert (
                api.post(url, json=_alert(secret, "r-3", "stop", stop="60500")).status_code == 202
            )
            wait(
                lambda: (
                    [Decimal(o["triggerPrice"]) for o in s.open_orders(BOT)] == [Decimal(60500)]
                ),
                what="the stop to move",
            )
        s.set_state(BOT, "running")
        s.play(2)  # the bar reaching 60,700 fires the stop at 60,500
        wait(lambda: s.qty(BOT) == 0, what="the stop to fill")
        s.settle()
        fills = s.fills(BOT)
        assert [(f.side, f.qty, f.link.split("-")[1]) for f in fills] == [
            ("Sell", Decimal("0.1"), Reason.ENTRY.value),
            ("Buy", Decimal("0.1"), Reason.SL.value),
        ]
        assert _resting(s) == []
        assert [o for _a, o in _signals(database)] == ["accepted"] * 3


def test_after_restarts_the_stop_is_relinked_or_placed_again_from_the_alert(
    database, redis, tmp_path
):
    from core.exchange.client import make_http

    with stack(database, tmp_path, flat_bars(60000, 40), 30) as s:
        s.register(BOT, CODE, "webhook", {"symbols": [SYMBOL]}, redis_db=5)
        with database.connect("owner", direct=True) as conn:
            secret = webhook_secrets.set_secret(conn, BOT)
        bot = s.start_bot(BOT)
        url = f"/webhook/{BOT}"
        with running_api(database) as api:
            enter = _alert(secret, "s-1", "enter_long", qty="0.02", stop="59000")
            assert api.post(url, json=enter).status_code == 202
            wait(lambda: s.qty(BOT) == Decimal("0.02"), what="the long")
            s.settle()
            wait(lambda: _resting(s) == [Reason.SL.value], what="the stop")
            [first] = s.open_orders(BOT)

            # 1. Restarted with its stop resting: adopted as it is, nothing sent.
            bot.halt()
            placed = len(s.orders())
            bot = s.start_bot(BOT)
            assert len(s.orders()) == placed

            # 2. Down, and the stop gone (as if it crashed before placing it): the
            # restart places it again at the alert's price, remembered in Redis.
            bot.halt()
            http = make_http(s.settings, "main")
            http.cancel_order(category="linear", symbol=SYMBOL, orderLinkId=first["orderLinkId"])
            bot = s.start_bot(BOT)
            [again] = s.open_orders(BOT)
            assert again["orderLinkId"] != first["orderLinkId"]
            assert (Decimal(again["triggerPrice"]), Decimal(again["qty"])) == (
                Decimal(59000), Decimal("0.02"),
            )  # fmt: skip

            # 3. A stop alert moves that same order; an exit closes and cancels it.
            moved = _alert(secret, "s-2", "stop", stop="59500")
            assert api.post(url, json=moved).status_code == 202
            wait(
                lambda: (
                    [(o["orderLinkId"], Decimal(o["triggerPrice"])) for o in s.open_orders(BOT)]
                    == [(again["orderLinkId"], Decimal(59500))]
                ),
                what="the stop to move",
            )
            assert api.post(url, json=_alert(secret, "s-3", "exit")).status_code == 202
            wait(lambda: s.qty(BOT) == 0, what="the exit")
            s.settle()
            wait(lambda: _resting(s) == [], what="the stop to be cancelled")
