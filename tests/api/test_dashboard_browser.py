"""The dashboard in a real browser (headless Chromium via Selenium) against the API on
the real database and Redis: the fleet table shows each bot's numbers as the SQL views
have them, an admin pauses and resumes a bot from its page (registry, Redis, audit), a
viewer gets no controls and the server refuses its write anyway.

Screenshots of each page go to a temporary directory, or to ``docs/images/`` with
``ALPHA_SCREENSHOT_DIR=docs/images`` (how the README's pictures are made)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from api_harness import add_bot, add_fill, audit_rows, make_token, running_api
from browser import screenshot, start_chromium, wait_for

from core.config import Role


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    browser = start_chromium()
    try:
        yield browser
    finally:
        browser.quit()


def _by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def _css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _seed(database: Any, services: Any) -> datetime:
    """Three bots: one with a position and fills today and yesterday, one paused with a
    fill today on another account, one with no fills at all."""
    now = datetime.now(UTC)
    today = max(now - timedelta(minutes=1), now.replace(hour=0, minute=0, second=0))
    add_bot(database, "alpha_one", "a1", redis_db=3)
    add_bot(database, "beta_two", "b2", status="paused")
    add_bot(database, "gamma_three", "g3")
    add_fill(database, "alpha_one", "e0", "Buy", "95", "0.5", today - timedelta(days=1))
    add_fill(database, "alpha_one", "e1", "Buy", "100.5", "2", today, fee="0.201")
    add_fill(database, "alpha_one", "e2", "Sell", "110.25", "1", today, fee="0.11025")
    add_fill(database, "beta_two", "e3", "Buy", "99", "1", today, account="side")
    services.redis(3).set("bot:alpha_one:state", "running")
    services.redis(0).set("bot:beta_two:state", "paused")
    return today


def _sql(database: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with database.connect(Role.READONLY) as conn:
        return conn.execute(sql, params).fetchall()


def _expected_row(database: Any, bot_id: str, day: str) -> tuple[str, str]:
    """(position, today's net P&L) as the views have them, written as the API does."""
    open_positions = _sql(
        database,
        "SELECT symbol, qty FROM analytics.bot_positions WHERE bot_id = %s AND qty <> 0"
        " ORDER BY symbol",
        bot_id,
    )
    position = ", ".join(f"{s} {format(q, 'f')}" for s, q in open_positions) or "flat"
    pnl = _sql(
        database,
        "SELECT net_pnl FROM analytics.bot_daily_pnl WHERE bot_id = %s AND day = %s::date",
        bot_id,
        day,
    )
    return position, format(pnl[0][0], "f") if pnl else "—"


def _sign_in(driver: Any, url: str, token: str) -> None:
    driver.get(url + "/")
    driver.execute_script("sessionStorage.clear()")
    driver.get(url + "/")
    wait_for(driver, lambda d: _by_id(d, "login").is_displayed(), "the login form")
    _by_id(driver, "token").send_keys(token)
    _by_id(driver, "login-form").submit()


def _fleet_rows(driver: Any, count: int) -> dict[str, dict[str, str]]:
    wait_for(
        driver,
        lambda d: (
            _by_id(d, "fleet").is_displayed()
            and len(_css(d, "#fleet-table tbody tr[data-bot]")) == count
        ),
        "the fleet table",
    )
    rows = {}
    for tr in _css(driver, "#fleet-table tbody tr[data-bot]"):
        cells = {td.get_attribute("data-col"): td.text for td in _css(tr, "td[data-col]")}
        rows[tr.get_attribute("data-bot")] = cells
    return rows


def _open_bot(driver: Any, bot_id: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.LINK_TEXT, bot_id).click()
    wait_for(
        driver,
        lambda d: _by_id(d, "bot").is_displayed() and bot_id in _by_id(d, "bot-title").text,
        f"the page of {bot_id}",
    )


def test_the_fleet_table_shows_each_bots_numbers_as_the_views_have_them(
    database, services, redis, driver, tmp_path
) -> None:
    today = _seed(database, services)
    day = today.date().isoformat()
    token = make_token(database, "wallboard", "viewer")
    with running_api(database) as api:
        driver.get(api.url + "/")
        driver.execute_script("sessionStorage.clear()")
        driver.get(api.url + "/")
        wait_for(driver, lambda d: _by_id(d, "login").is_displayed(), "the login form")
        screenshot(driver, "dashboard-login.png", tmp_path)
        _by_id(driver, "token").send_keys(token)
        _by_id(driver, "login-form").submit()
        rows = _fleet_rows(driver, 3)

        assert set(rows) == {"alpha_one", "beta_two", "gamma_three"}  # not `external`
        for bot_id, cells in rows.items():
            assert (cells["position"], cells["pnl"]) == _expected_row(database, bot_id, day)
            assert cells["heartbeat"].endswith(" s"), cells  # registered a moment ago
        # The numbers themselves, so a view that changed meaning cannot pass silently:
        # alpha_one bought 0.5 at 95 yesterday, 2 at 100.5 today (average 99.4) and sold 1
        # at 110.25 today: realized 10.85, less today's fees of 0.201 + 0.11025.
        assert rows["alpha_one"]["position"] == "BTCUSDT 1.5"
        assert Decimal(rows["alpha_one"]["pnl"]) == Decimal("10.85") - Decimal("0.31125")
        gamma = rows["gamma_three"]
        assert (gamma["state"], gamma["position"], gamma["pnl"]) == ("unknown", "flat", "—")
        assert (rows["alpha_one"]["state"], rows["beta_two"]["state"]) == ("running", "paused")
        assert _by_id(driver, "who").text == "wallboard · viewer"
        screenshot(driver, "dashboard-fleet.png", tmp_path)

        # A bot's page: its positions, daily P&L and fills; no controls for a viewer.
        _open_bot(driver, "alpha_one")
        assert not _by_id(driver, "pause").is_displayed()
        assert not _by_id(driver, "resume").is_displayed()
        fills = _css(driver, "#fills tbody tr")
        assert len(fills) == 3
        assert "110.25" in fills[0].text and "Sell" in fills[0].text  # newest first
        daily = [tr.text.split()[:2] for tr in _css(driver, "#daily tbody tr")]
        views = _sql(
            database,
            "SELECT day, net_pnl FROM analytics.bot_daily_pnl WHERE bot_id = %s ORDER BY day DESC",
            "alpha_one",
        )
        assert daily == [[d.isoformat(), format(p, "f")] for d, p in views]
        assert len(daily) == 2
        screenshot(driver, "dashboard-bot.png", tmp_path)

        # The button is only spared: the server refuses a viewer's write on its own.
        status = driver.execute_async_script(
            """const done = arguments[arguments.length - 1];
            fetch('/api/v1/bots/alpha_one/pause', {method: 'POST', headers:
              {Authorization: 'Bearer ' + sessionStorage.getItem('alpha.token')}})
              .then(r => done(r.status));"""
        )
        assert status == 403
    assert services.redis(3).get("bot:alpha_one:state") == "running"
    assert [(r["command"], r["outcome"], r["username"]) for r in audit_rows(database)] == [
        ("pause", "refused", "wallboard")
    ]


def _shows(driver: Any, state: str, message: str) -> None:
    """The bot's page shows ``state``, the control that changes it (only that one
    enabled) and ``message``."""
    paused = state == "paused"

    def shown(d: Any) -> bool:
        return (
            _by_id(d, "bot-state").text == state
            and _by_id(d, "resume").is_enabled() == paused
            and _by_id(d, "pause").is_enabled() != paused
            and _by_id(d, "message").text == message
        )

    wait_for(driver, shown, f"state {state}, its control and {message!r}")


def test_an_admin_pauses_and_resumes_a_bot_from_its_page(
    database, services, redis, driver, tmp_path
) -> None:
    _seed(database, services)
    token = make_token(database, "ops-phone", "admin")
    with running_api(database) as api:
        _sign_in(driver, api.url, token)
        _fleet_rows(driver, 3)
        _open_bot(driver, "alpha_one")
        pause, resume = _by_id(driver, "pause"), _by_id(driver, "resume")
        assert pause.is_displayed() and pause.is_enabled() and not resume.is_enabled()

        pause.click()
        # The live event and the POST's answer arrive in either order: the state, the
        # controls and the message are each waited for.
        _shows(driver, "paused", "alpha_one: paused")
        assert services.redis(3).get("bot:alpha_one:state") == "paused"
        assert _sql(database, "SELECT status FROM trading.bots WHERE bot_id = 'alpha_one'") == [
            ("paused",)
        ]
        screenshot(driver, "dashboard-bot-admin.png", tmp_path)

        _by_id(driver, "resume").click()
        _shows(driver, "running", "alpha_one: running")
        assert services.redis(3).get("bot:alpha_one:state") == "running"

        # Back on the fleet, on a phone-sized screen.
        driver.set_window_size(390, 844)
        try:
            driver.get(api.url + "/#/")
            rows = _fleet_rows(driver, 3)
            assert rows["alpha_one"]["state"] == "running"
            screenshot(driver, "dashboard-phone.png", tmp_path)
        finally:
            driver.set_window_size(1200, 900)
    assert [
        (r["command"], r["outcome"], r["bot_id"], r["username"], r["channel"])
        for r in audit_rows(database)
    ] == [
        ("pause", "accepted", "alpha_one", "ops-phone", "api"),
        ("resume", "accepted", "alpha_one", "ops-phone", "api"),
    ]


def test_a_wrong_token_goes_back_to_the_login_form_with_the_reason(database, redis, driver) -> None:
    with running_api(database) as api:
        _sign_in(driver, api.url, "alpha_not-a-token-anyone-made")
        wait_for(
            driver,
            lambda d: (
                _by_id(d, "login").is_displayed()
                and _by_id(d, "message").text == "unknown or revoked token"
            ),
            "the login form with the refusal",
        )
        assert driver.execute_script("return sessionStorage.getItem('alpha.token')") is None
        assert not _by_id(driver, "fleet").is_displayed()


def _cell(driver: Any, bot_id: str, column: str) -> str | None:
    """One fleet cell's text, read in one script: the table may be re-rendered between
    two WebDriver calls while events arrive."""
    return driver.execute_script(
        "const cell = document.querySelector("
        "`#fleet-table tr[data-bot='${arguments[0]}'] td[data-col='${arguments[1]}']`);"
        "return cell ? cell.textContent : null;",
        bot_id,
        column,
    )


def test_the_fleet_follows_the_event_stream_without_polling(
    database, services, redis, driver
) -> None:
    """A state change made elsewhere (here: another client's pause) and a new fill
    reach the open page from GET /api/v1/events, well before the 30 s fallback poll."""
    today = _seed(database, services)
    viewer = make_token(database, "wallboard", "viewer")
    admin = make_token(database, "ops", "admin")
    with running_api(database, events_poll_seconds=0.2) as api:
        _sign_in(driver, api.url, viewer)
        _fleet_rows(driver, 3)
        wait_for(driver, lambda d: "live" in _by_id(d, "fleet-updated").text, "the stream")
        requests_before = driver.execute_script(
            "return performance.getEntriesByType('resource')"
            ".filter(e => e.name.includes('/api/v1/fleet')).length"
        )

        assert api.post("/api/v1/bots/a1/pause", admin).status_code == 200
        wait_for(
            driver,
            lambda d: _cell(d, "alpha_one", "state") == "paused",
            "alpha_one paused on the page",
        )
        # The state arrived as an event, not by re-reading the fleet.
        assert (
            driver.execute_script(
                "return performance.getEntriesByType('resource')"
                ".filter(e => e.name.includes('/api/v1/fleet')).length"
            )
            == requests_before
        )

        add_fill(database, "gamma_three", "live-1", "Buy", "100", "0.3", today)
        wait_for(
            driver,
            lambda d: _cell(d, "gamma_three", "position") == "BTCUSDT 0.3",
            "gamma_three's new position on the page",
        )


def test_a_fleet_past_twenty_bots_loads_in_one_request_within_the_rate_limit(
    database, services, redis, driver
) -> None:
    """25 bots under a limit of 10 requests a minute: the page used to make 1 + 2 per
    bot (51) and got 429s; now it reads GET /fleet once."""
    for i in range(25):
        add_bot(database, f"bot_{i:02d}", f"c{i:02d}")
    add_fill(database, "bot_07", "e1", "Buy", "100", "0.5", datetime.now(UTC))
    token = make_token(database, "wallboard", "viewer")
    with running_api(database, rate_per_minute=10) as api:
        _sign_in(driver, api.url, token)
        rows = _fleet_rows(driver, 25)
        assert rows["bot_07"]["position"] == "BTCUSDT 0.5"
        assert _by_id(driver, "message").is_displayed() is False  # no "too many requests"
        reads = driver.execute_script(
            "return performance.getEntriesByType('resource')"
            ".filter(e => e.name.includes('/api/v1/') && !e.name.includes('/events'))"
            ".map(e => new URL(e.name).pathname)"
        )
        assert sorted(reads) == ["/api/v1/fleet", "/api/v1/me"], reads


def _confirm(driver: Any, expected: str) -> None:
    wait_for(driver, lambda d: _by_id(d, "confirm-box").is_displayed(), "the confirmation")
    assert expected in _by_id(driver, "confirm-text").text
    _by_id(driver, "confirm-yes").click()
    wait_for(driver, lambda d: not _by_id(d, "confirm-box").is_displayed(), "confirmed")


def test_an_admin_flattens_a_bot_and_kills_and_lifts_through_the_confirmation_step(
    database, services, redis, driver, tmp_path
) -> None:
    _seed(database, services)
    token = make_token(database, "ops", "admin")
    infra = services.redis(15)
    with running_api(database) as api:
        _sign_in(driver, api.url, token)
        _fleet_rows(driver, 3)
        _open_bot(driver, "alpha_one")
        _by_id(driver, "flatten").click()
        wait_for(driver, lambda d: _by_id(d, "confirm-box").is_displayed(), "the confirmation")
        assert services.redis(3).xrange("commands:alpha_one") == []  # asked, not done
        screenshot(driver, "dashboard-confirm.png", tmp_path)
        _confirm(driver, "Flatten alpha_one")
        wait_for(driver, lambda d: "Flatten sent to alpha_one" in _by_id(d, "message").text, "done")
        [(_, fields)] = services.redis(3).xrange("commands:alpha_one")
        assert fields["command"] == "flatten" and fields["requested_by"].endswith(":ops")

        # Cancel: nothing happens.
        _by_id(driver, "flatten").click()
        wait_for(driver, lambda d: _by_id(d, "confirm-box").is_displayed(), "the confirmation")
        _by_id(driver, "confirm-no").click()
        assert _by_id(driver, "message").text == "Cancelled: nothing was done."
        assert len(services.redis(3).xrange("commands:alpha_one")) == 1

        driver.get(api.url + "/#/")
        _fleet_rows(driver, 3)
        _by_id(driver, "kill").click()
        _confirm(driver, "Kill switch")
        wait_for(driver, lambda d: _cell(d, "alpha_one", "state") == "paused", "alpha paused")
        assert infra.get("risk:kill") is not None
        assert _cell(driver, "gamma_three", "state") == "paused"
        _by_id(driver, "lift").click()
        _confirm(driver, "Lift the kill switch")
        wait_for(driver, lambda d: infra.get("risk:kill") is None, "the flag cleared")
    assert [(r["command"], r["outcome"]) for r in audit_rows(database)] == [
        ("flatten", "pending"),
        ("flatten", "confirmed"),
        ("flatten", "pending"),  # the cancelled one: it lapses (the sweeper says expired)
        ("kill", "pending"),
        ("kill", "confirmed"),
        ("unkill", "pending"),
        ("unkill", "confirmed"),
    ]


def test_the_account_alerts_and_audit_pages_and_a_bots_full_page(
    database, services, redis, driver, tmp_path
) -> None:
    today = _seed(database, services)
    add_fill(database, "external", "ext1", "Buy", "100", "0.25", today)
    # A closed round trip (ETHUSDT, flat again, so not in the account view).
    add_fill(
        database, "alpha_one", "t1", "Buy", "50", "1", today - timedelta(days=1), symbol="ETHUSDT"
    )
    add_fill(
        database, "alpha_one", "t2", "Sell", "55", "1", today - timedelta(days=1), symbol="ETHUSDT"
    )
    with database.connect(Role.OWNER, direct=True) as conn:
        conn.execute(
            "INSERT INTO trading.drift_events (account, symbol, exchange_qty, ledger_qty)"
            " VALUES ('main', 'BTCUSDT', '2', '1.5')"
        )
        conn.execute(  # a configuration and its history, as `alpha bots update` leaves them
            'UPDATE trading.bots SET config = \'{"interval": "60", "risk_pct": "1"}\''
            " WHERE bot_id = 'alpha_one'"
        )
        conn.execute(
            "INSERT INTO trading.bot_versions (bot_id, version, changed_by, changes, snapshot)"
            " VALUES ('alpha_one', 1, 'registration', '{}', '{}'), ('alpha_one', 2, 'api:ops',"
            ' \'{"config": {"from": {"interval": "60"}, "to":'
            ' {"interval": "60", "risk_pct": "1"}}}\', \'{}\')'
        )
        conn.execute(
            "INSERT INTO trading.backups (backup_date, kind, status, started_at, finished_at,"
            " verified_at, size_bytes, sha256, ledger_checksum) VALUES (current_date,"
            " 'scheduled', 'verified', now(), now(), now(), 48213, 'ab', '{}')"
        )
    with database.connect(Role.LISTENER) as conn:
        conn.execute(
            "INSERT INTO trading.orders (account, order_id, order_link_id, bot_id, symbol,"
            " side, order_type, status, qty, trigger_price, reduce_only, created_time, raw)"
            " VALUES ('main', 'o1', 'a1-stop', 'alpha_one', 'BTCUSDT', 'Sell', 'Market',"
            " 'Untriggered', 1.5, 90, true, now(), '{}')"
        )
    infra = services.redis(15)
    drift_text = "Position drift: main BTCUSDT exchange 2, ledger 1.5"
    infra.xadd("alerts", {"kind": "drift", "severity": "critical", "text": drift_text})
    infra.xadd("alerts", {"kind": "backup", "severity": "info", "text": "Backup verified"})
    token = make_token(database, "ops", "admin")
    with running_api(database) as api:
        assert api.post("/api/v1/bots/b2/resume", token).status_code == 200  # for the audit
        _sign_in(driver, api.url, token)
        rows = _fleet_rows(driver, 3)
        # All three are registered on main and trade BTCUSDT: its drift holds them all.
        assert {r["drift"] for r in rows.values()} == {"BTCUSDT"}
        screenshot(driver, "dashboard-fleet.png", tmp_path)

        driver.get(api.url + "/#/accounts")
        wait_for(driver, lambda d: _by_id(d, "accounts").is_displayed(), "the account view")
        lines = [tr.text for tr in _css(driver, "#accounts-table tbody tr")]
        assert any(
            line.startswith("main BTCUSDT alpha_one 1.5 1.5 0.25 2 DRIFT") for line in lines
        ), lines
        assert any(line.startswith("side BTCUSDT beta_two 1 1 0 = ledger") for line in lines)
        assert len(_css(driver, "#drift-table tbody tr")) == 1
        assert "yes" in _css(driver, "#backups-table tbody tr")[0].text
        screenshot(driver, "dashboard-accounts.png", tmp_path)

        driver.get(api.url + "/#/alerts")
        wait_for(driver, lambda d: _by_id(d, "alerts").is_displayed(), "the alerts")
        alerts = [tr.text for tr in _css(driver, "#alerts-table tbody tr")]
        assert "Backup verified" in alerts[0] and "Position drift" in alerts[1]  # newest first
        screenshot(driver, "dashboard-alerts.png", tmp_path)

        driver.get(api.url + "/#/audit")
        wait_for(driver, lambda d: _by_id(d, "audit").is_displayed(), "the audit")
        audit = _css(driver, "#audit-table tbody tr")
        assert "resume" in audit[0].text and "ops" in audit[0].text
        screenshot(driver, "dashboard-audit.png", tmp_path)

        driver.get(api.url + "/#/")
        _fleet_rows(driver, 3)
        _open_bot(driver, "alpha_one")
        wait_for(driver, lambda d: _css(d, "#equity svg path.curve"), "the equity curve")
        # Two days of P&L after the initial capital: three points, the last one labelled
        # with the API's own decimal string.
        assert len(_css(driver, "#equity svg circle.dot")) == 3
        equity = _sql(
            database,
            "SELECT 1000 + sum(net_pnl) FROM analytics.bot_daily_pnl WHERE bot_id = 'alpha_one'",
        )[0][0]
        assert _css(driver, "#equity svg text.last")[0].text == format(equity, "f")
        trips = _css(driver, "#trips tbody tr")
        assert len(trips) == 1 and "ETHUSDT Long 1 50" in trips[0].text, trips[0].text
        orders = _css(driver, "#orders tbody tr")
        assert len(orders) == 1 and "stop 90" in orders[0].text and "Untriggered" in orders[0].text
        assert '"risk_pct": "1"' in _by_id(driver, "config").text
        history = [tr.text for tr in _css(driver, "#history tbody tr")]
        assert history[0].startswith("2 ") and "api:ops" in history[0], history  # newest first
        assert history[1].startswith("1 ") and history[1].endswith("registered")
        driver.set_window_size(1200, 2300)  # the whole page in one picture
        try:
            screenshot(driver, "dashboard-bot-full.png", tmp_path)
        finally:
            driver.set_window_size(1200, 900)
