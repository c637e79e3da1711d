"""Every read route against real data: the replies equal the ledger and the analytics
views, match their OpenAPI schema, and page without gaps or repeats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_harness import add_bot, add_fill, check_reply, make_token, running_api

from api.routes import PREFIX
from core.config import Role

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _seed(database) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=3)
    add_bot(database, "beta_two", "b2", status="paused")
    add_fill(database, "alpha_one", "e1", "Buy", "100.5", "2", T0)
    add_fill(database, "alpha_one", "e2", "Sell", "110.25", "1", T0 + timedelta(days=1))
    add_fill(database, "alpha_one", "e3", "Buy", "3000", "0.1", T0, symbol="ETHUSDT")
    add_fill(database, "beta_two", "e4", "Buy", "99", "1", T0, account="side")


def _view(database, sql: str, *params) -> list[dict]:
    with database.connect(Role.READONLY) as conn:
        cur = conn.execute(sql, params)
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _as_text(rows: list[dict]) -> list[dict]:
    """Rows as the API sends them: decimals and times as strings."""
    out = []
    for row in rows:
        out.append(
            {
                k: (
                    format(v, "f")
                    if hasattr(v, "as_tuple")
                    else v.isoformat()
                    if hasattr(v, "isoformat")
                    else v
                )
                for k, v in row.items()
            }
        )
    return out


def test_bots_list_the_registry_with_state_and_heartbeat(database, services, redis) -> None:
    _seed(database)
    services.redis(3).set("bot:alpha_one:state", "running")
    token = make_token(database, "viewer", "viewer")
    with running_api(database) as api:
        bots = check_reply(api.get(f"{PREFIX}/bots", token), "BotList")["bots"]
        assert [b["bot_id"] for b in bots] == ["alpha_one", "beta_two"]  # no external
        one, two = bots
        assert (one["status"], one["state"], two["status"], two["state"]) == (
            "active",
            "running",
            "paused",
            None,
        )
        assert one["initial_capital"] == "1000" and one["symbols"] == ["BTCUSDT"]
        assert 0 <= one["heartbeat_age_seconds"] < 60
        single = check_reply(api.get(f"{PREFIX}/bots/beta_two", token), "BotOne")["bot"]
        assert single["bot_code"] == "b2"
        missing = api.get(f"{PREFIX}/bots/nobody", token)
        assert missing.status_code == 404
        check_reply(missing, "Error")


def test_positions_and_daily_pnl_equal_the_analytics_views(database, redis) -> None:
    _seed(database)
    token = make_token(database, "viewer", "viewer")
    want_positions = _as_text(
        _view(
            database,
            "SELECT symbol, qty, avg_price, realized_pnl, fees, gross_pnl, volume, fills,"
            " last_fill FROM analytics.bot_positions WHERE bot_id = 'alpha_one' ORDER BY symbol",
        )
    )
    want_days = _as_text(
        _view(
            database,
            "SELECT day, realized_pnl, fees, funding, net_pnl, gross_pnl, volume, fills"
            " FROM analytics.bot_daily_pnl WHERE bot_id = 'alpha_one' ORDER BY day",
        )
    )
    assert len(want_positions) == 2 and len(want_days) == 2
    with running_api(database) as api:
        got = check_reply(api.get(f"{PREFIX}/bots/alpha_one/positions", token), "Positions")
        assert got["positions"] == want_positions
        btc = got["positions"][0]
        assert (btc["symbol"], btc["qty"]) == ("BTCUSDT", "1")
        days = check_reply(api.get(f"{PREFIX}/bots/alpha_one/pnl/daily", token), "DailyPnl")
        assert days["days"] == want_days
        second = api.get(f"{PREFIX}/bots/alpha_one/pnl/daily?from=2026-12-02&to=2026-12-02", token)
        assert [d["day"] for d in check_reply(second, "DailyPnl")["days"]] == ["2026-12-02"]
        bad = api.get(f"{PREFIX}/bots/alpha_one/pnl/daily?from=yesterday", token)
        assert bad.status_code == 400
        assert check_reply(bad, "Error")["error"]["message"].startswith("from: not a date")
        assert api.get(f"{PREFIX}/bots/nobody/positions", token).status_code == 404


def test_fills_filter_and_page_by_cursor_without_gaps_or_repeats(database, redis) -> None:
    add_bot(database, "alpha_one", "a1", redis_db=3)
    add_bot(database, "beta_two", "b2")
    for i in range(7):  # two share a time: the cursor must break the tie by seq/exec_id
        add_fill(database, "alpha_one", f"a{i}", "Buy", "100", "1", T0 + timedelta(minutes=i // 2))
    add_fill(database, "beta_two", "b0", "Buy", "100", "1", T0, symbol="ETHUSDT", account="side")
    token = make_token(database, "viewer", "viewer")
    with running_api(database) as api:
        seen, cursor, pages = [], None, 0
        while True:
            query = f"{PREFIX}/fills?bot=alpha_one&limit=3" + (
                f"&cursor={cursor}" if cursor else ""
            )
            body = check_reply(api.get(query, token), "Fills")
            seen += [f["exec_id"] for f in body["fills"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        want = [
            r["exec_id"]
            for r in _view(
                database,
                "SELECT exec_id FROM trading.fills WHERE bot_id = 'alpha_one'"
                " ORDER BY exec_time DESC, seq DESC, exec_id DESC",
            )
        ]
        assert seen == want and len(set(seen)) == 7
        every = check_reply(api.get(f"{PREFIX}/fills", token), "Fills")
        assert len(every["fills"]) == 8 and every["next_cursor"] is None
        for query, ids in (
            ("symbol=ETHUSDT", ["b0"]),
            ("account=side", ["b0"]),
            ("bot=beta_two&symbol=BTCUSDT", []),
        ):
            got = check_reply(api.get(f"{PREFIX}/fills?{query}", token), "Fills")["fills"]
            assert [f["exec_id"] for f in got] == ids, query
        one = check_reply(api.get(f"{PREFIX}/fills?symbol=ETHUSDT", token), "Fills")["fills"][0]
        assert (one["exec_price"], one["exec_value"], one["side"]) == ("100", "100", "Buy")
        for bad in ("limit=0", "limit=1001", "limit=x", "cursor=bm9wZQ", "cursor=%25%25"):
            r = api.get(f"{PREFIX}/fills?{bad}", token)
            assert r.status_code == 400, bad
            check_reply(r, "Error")


def test_alerts_come_from_the_infra_stream_newest_first_in_pages(database, services, redis) -> None:
    infra = services.redis(database.settings.redis.infra_db)
    ids = [
        infra.xadd("alerts", {"kind": "drift", "text": f"drift {i}", "severity": "warning"})
        for i in range(5)
    ]
    token = make_token(database, "viewer", "viewer")
    with running_api(database) as api:
        first = check_reply(api.get(f"{PREFIX}/alerts?limit=3", token), "Alerts")
        assert [a["id"] for a in first["alerts"]] == [str(i) for i in ids[::-1][:3]]
        assert first["alerts"][0]["fields"]["text"] == "drift 4"
        rest = check_reply(
            api.get(f"{PREFIX}/alerts?limit=3&before={first['next_before']}", token), "Alerts"
        )
        assert [a["id"] for a in rest["alerts"]] == [str(i) for i in ids[1::-1]]
        assert rest["next_before"] is None
        assert api.get(f"{PREFIX}/alerts?before=garbage", token).status_code == 400


def test_audit_lists_every_channel_newest_first_in_pages(database, redis) -> None:
    with database.connect(Role.OWNER, direct=True) as conn:
        for i in range(5):
            conn.execute(
                "INSERT INTO trading.bot_commands (channel, command, bot_id, outcome)"
                " VALUES (%s, %s, %s, 'accepted')",
                ("telegram" if i % 2 else "cli", f"cmd{i}", "alpha_one" if i < 3 else None),
            )
    token = make_token(database, "viewer", "viewer")
    with running_api(database) as api:
        page = check_reply(api.get(f"{PREFIX}/audit?limit=2", token), "Audit")
        assert [e["command"] for e in page["entries"]] == ["cmd4", "cmd3"]
        rest = check_reply(
            api.get(f"{PREFIX}/audit?limit=10&cursor={page['next_cursor']}", token), "Audit"
        )
        assert [e["command"] for e in rest["entries"]] == ["cmd2", "cmd1", "cmd0"]
        assert rest["next_cursor"] is None
        only = check_reply(api.get(f"{PREFIX}/audit?bot=alpha_one&channel=cli", token), "Audit")
        assert [e["command"] for e in only["entries"]] == ["cmd2", "cmd0"]
