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
        wait_for(driver, lambda d: _by_id(d, "bot-state").text == "paused", "state paused")
        assert _by_id(driver, "message").text == "alpha_one: paused"
        assert services.redis(3).get("bot:alpha_one:state") == "paused"
        assert _sql(database, "SELECT status FROM trading.bots WHERE bot_id = 'alpha_one'") == [
            ("paused",)
        ]
        assert _by_id(driver, "resume").is_enabled() and not _by_id(driver, "pause").is_enabled()
        screenshot(driver, "dashboard-bot-admin.png", tmp_path)

        _by_id(driver, "resume").click()
        wait_for(driver, lambda d: _by_id(d, "bot-state").text == "running", "state running")
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
            ".filter(e => e.name.includes('/api/v1/bots')).length"
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
                ".filter(e => e.name.includes('/api/v1/bots')).length"
            )
            == requests_before
        )

        add_fill(database, "gamma_three", "live-1", "Buy", "100", "0.3", today)
        wait_for(
            driver,
            lambda d: _cell(d, "gamma_three", "position") == "BTCUSDT 0.3",
            "gamma_three's new position on the page",
        )
