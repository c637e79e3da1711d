"""The rehearsal's checker, fed the real compose file broken on purpose and what Docker
would have shown: a failed rehearsal must name its cause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from deploy.rehearsal import checks, report
from deploy.rehearsal.faults import Fault
from deploy.rehearsal.stack import Event

ROOT = Path(__file__).resolve().parents[2]
TEXT = (ROOT / "docker-compose.production.yml").read_text(encoding="utf-8")
BOTS = ("lxalgo", "momentum", "orderblock", "shortseller")
LISTENER_DEPENDENCY = """    websocket_listener:
      condition: service_healthy
"""


def config(old: str = "", new: str = "") -> dict[str, Any]:
    if old:
        assert TEXT.count(old) == 1, f"the fixture text {old!r} moved; update the test"
    loaded: dict[str, Any] = yaml.safe_load(TEXT.replace(old, new) if old else TEXT)
    return loaded


def startup(bot_first: bool = False) -> list[Event]:
    """Docker's events of a start-up: the listener healthy at t=20, bots at t=21."""
    events = [
        Event(1, "postgres", "start"), Event(5, "migrate", "start"),
        Event(8, "migrate", "die", "0"), Event(9, "bootstrap", "start"),
        Event(12, "bootstrap", "die", "0"), Event(13, "websocket_listener", "start"),
        Event(20, "websocket_listener", "health_status: healthy"),
    ]  # fmt: skip
    events += [Event(14 if bot_first else 21, bot, "start") for bot in BOTS]
    return sorted(events, key=lambda e: e.at)


def test_the_real_file_started_in_order_passes() -> None:
    obs = checks.Observations(config=config(), events=startup())
    assert checks.check_start_order(obs).ok
    assert checks.check_restart_policies(obs).ok


def test_a_bot_not_waiting_for_the_listener_fails_and_says_so() -> None:
    broken = config(LISTENER_DEPENDENCY, "")
    obs = checks.Observations(config=broken, events=startup(bot_first=True))
    check = checks.check_start_order(obs)
    assert not check.ok
    assert "shortseller does not wait for websocket_listener to be healthy" in check.detail
    assert "shortseller started before websocket_listener was healthy" in check.detail
    assert "start order" in report.verdict([check])


def test_a_listener_without_restart_policy_fails_and_says_so() -> None:
    listener = "  websocket_listener:\n    <<: *app\n"
    broken = config(listener, listener + '    restart: "no"\n')
    crash = Fault("kill -9 of the listener's process", "websocket_listener", started=1.0)
    crash.detail = ("websocket_listener was not restarted after its process was killed "
                    "(restart policy: no)")  # fmt: skip
    obs = checks.Observations(config=broken, faults=[crash])
    policies = checks.check_restart_policies(obs)
    assert not policies.ok and "websocket_listener (restart: no)" in policies.detail
    (fault,) = checks.check_faults(obs)
    assert not fault.ok and "restart policy: no" in fault.detail
    assert report.verdict([policies, fault]).startswith("rehearsal: FAILED: restart policies")


def _exchange(*executions: dict[str, str]) -> dict[str, Any]:
    return {"main": {"executions": list(executions), "positions": []}}


BOT_ROWS = [
    {"bot_id": "shortseller_001", "bot_code": "ss1", "account": "main"},
    {"bot_id": "orderblock_001", "bot_code": "ob1", "account": "orderblock"},
    {"bot_id": "external", "bot_code": "ext", "account": "main"},
]


def _fill(exec_id: str, bot_id: str) -> dict[str, str]:
    return {"account": "main", "exec_id": exec_id, "bot_id": bot_id}


def test_executions_once_and_attributed_pass() -> None:
    obs = checks.Observations(
        config={}, bots=BOT_ROWS,
        exchange=_exchange(
            {"execId": "e1", "orderLinkId": "ss1-en-abc-1", "execType": "Trade"},
            {"execId": "e2", "orderLinkId": "", "execType": "Trade"},
        ),
        fills=[_fill("e1", "shortseller_001"), _fill("e2", "external")],
    )  # fmt: skip
    once, attributed = checks.check_executions(obs)
    assert once.ok and attributed.ok, (once, attributed)


def test_missing_duplicated_and_misattributed_executions_fail() -> None:
    exchange = _exchange(
        {"execId": "e1", "orderLinkId": "ss1-en-abc-1", "execType": "Trade"},
        {"execId": "e2", "orderLinkId": "ss1-en-abc-2", "execType": "Trade"},
        # ob1 is a bot of another account: on main this trade is nobody's.
        {"execId": "e3", "orderLinkId": "ob1-en-abc-3", "execType": "Trade"},
    )
    fills = [_fill("e1", "shortseller_001"), _fill("e1", "shortseller_001"),
             _fill("e3", "orderblock_001")]  # fmt: skip
    once, attributed = checks.check_executions(
        checks.Observations(config={}, bots=BOT_ROWS, exchange=exchange, fills=fills)
    )
    assert not once.ok
    assert "1 execution(s) missing" in once.detail and "more than once" in once.detail
    assert not attributed.ok and "e3" in attributed.detail


def test_an_adl_split_between_holders_is_one_execution() -> None:
    """An ADL split between two bots is two pro_rata rows of one execution; the same
    rows without the holder rule's mark are a duplicate."""
    exchange = _exchange(
        {"execId": "e1", "orderLinkId": "", "execType": "AdlTrade", "execQty": "0.004"},
    )

    def share(bot: str, qty: str, rule: str = "pro_rata") -> dict[str, str]:
        return {**_fill("e1", bot), "exec_qty": qty, "attribution": rule}

    split = [share("shortseller_001", "0.001"), share("momentum_001", "0.003")]
    once, attributed = checks.check_executions(
        checks.Observations(config={}, bots=BOT_ROWS, exchange=exchange, fills=split)
    )
    assert once.ok and attributed.ok, (once, attributed)
    twice = [share("shortseller_001", "0.004", "no_holder"), share("external", "0.004")]
    once, _ = checks.check_executions(
        checks.Observations(config={}, bots=BOT_ROWS, exchange=exchange, fills=twice)
    )
    assert not once.ok and "more than once" in once.detail
    short = [share("shortseller_001", "0.001"), share("momentum_001", "0.002")]
    _, attributed = checks.check_executions(
        checks.Observations(config={}, bots=BOT_ROWS, exchange=exchange, fills=short)
    )
    assert not attributed.ok and "shares sum to 0.003" in attributed.detail


def test_nothing_executed_proves_nothing() -> None:
    once, _ = checks.check_executions(checks.Observations(config={}, exchange=_exchange()))
    assert not once.ok and "no executions" in once.detail


def _piece(exec_id: str, order_id: str, link: str = "ss1-en-abc-1") -> dict[str, str]:
    return {"execId": exec_id, "orderId": order_id, "orderLinkId": link, "execType": "Trade"}


def test_orders_filled_in_pieces_are_counted_per_bot_and_each_piece_once() -> None:
    exchange = _exchange(
        _piece("e1", "o1"), _piece("e2", "o1"), _piece("e3", "o1"),  # 3 pieces
        _piece("e4", "o2", "ss1-sl-abc-2"),  # one piece
        _piece("e5", "o3", ""), _piece("e6", "o3", ""),  # not a bot's order
    )  # fmt: skip
    fills = [_fill(e, "shortseller_001") for e in ("e1", "e2", "e3", "e4")]
    check = checks.check_partial_fills(
        checks.Observations(config={}, bots=BOT_ROWS, exchange=exchange, fills=fills)
    )
    assert check.ok, check
    assert check.detail.startswith("1 of 2 bot orders filled in several executions")
    assert "shortseller_001 1; at most 3 pieces" in check.detail
    # A piece recorded twice, or missing, fails and names the order.
    twice = checks.check_partial_fills(
        checks.Observations(
            config={}, bots=BOT_ROWS, exchange=exchange, fills=[*fills, _fill("e2", "x")]
        )
    )
    assert not twice.ok and "o1: e2" in twice.detail


def test_no_order_filled_in_pieces_fails() -> None:
    exchange = _exchange(_piece("e1", "o1"), _piece("e2", "o2"))
    fills = [_fill("e1", "shortseller_001"), _fill("e2", "shortseller_001")]
    check = checks.check_partial_fills(
        checks.Observations(config={}, bots=BOT_ROWS, exchange=exchange, fills=fills)
    )
    assert not check.ok and "0 of 2 bot orders" in check.detail
    assert "partial fills" in report.verdict([check])


def test_round_trips_count_flat_to_flat_and_flips() -> None:
    def f(side: str, qty: str) -> dict[str, str]:
        return {"bot_id": "b", "symbol": "BTCUSDT", "side": side, "exec_qty": qty}

    # open, partial close, close (1); open short, flip to long (2), close (3)
    fills = [f("Buy", "2"), f("Sell", "1"), f("Sell", "1"), f("Sell", "1"),
             f("Buy", "3"), f("Sell", "2")]  # fmt: skip
    assert checks.round_trips(fills) == {"b": 3}


def test_a_cut_without_drift_or_with_drift_left_open_fails() -> None:
    cut = Fault("cut", "websocket_listener", started=100.0, recovered_after=10.0)
    cut.window = (100.0, 140.0)
    none = checks.Observations(config={}, faults=[cut])
    assert "no drift was alerted" in checks.check_drift(none).detail
    drift = {"account": "main", "symbol": "BTCUSDT", "detected": 120.0}
    still = checks.Observations(config={}, faults=[cut], drift_events=[drift | {"cleared": None}])
    assert not checks.check_drift(still).ok
    cleared = checks.Observations(
        config={}, faults=[cut], drift_events=[drift | {"cleared": 150.0}]
    )
    assert checks.check_drift(cleared).ok


def test_memory_at_the_limit_fails() -> None:
    obs = checks.Observations(config={}, memory={"redis": (512 * 2**20, 512 * 2**20)})
    check = checks.check_memory(obs)
    assert not check.ok and "redis" in check.detail


def test_a_bot_registered_with_demo_parameters_fails() -> None:
    defaults = {"interval": "15", "ema_fast": 9, "symbols": ["BTCUSDT"], "exclusive": False}
    row = {"bot_id": "shortseller_001", "symbols": ["BTCUSDT"],
           "config": defaults | {"risk": {"max_daily_loss_pct": "5"}}}  # fmt: skip
    obs = checks.Observations(
        config={}, bots=[row], registered_symbols={"shortseller_001": "BTCUSDT"},
        defaults={"shortseller_001": defaults},
    )  # fmt: skip
    assert checks.check_registrations(obs).ok
    row["config"] = row["config"] | {"interval": "1"}  # what the demo registers
    check = checks.check_registrations(obs)
    assert not check.ok and "interval='1' (default '15')" in check.detail


API_SEEN = {
    "bot": "shortseller_001", "healthz": 200, "openapi": 200, "openapi_paths": 10,
    "bots_status": 200, "bots": ["orderblock_001", "shortseller_001"],
    "no_token": 401, "viewer_pause": 403, "positions_status": 200,
    "positions": [{"symbol": "BTCUSDT", "qty": "0.010"}],
    "db_positions": [{"symbol": "BTCUSDT", "qty": "0.01"}], "audited_refusals": 1,
}  # fmt: skip


def test_the_api_answering_as_the_views_hold_passes() -> None:
    check = checks.check_api(checks.Observations(config={}, bots=BOT_ROWS, api=API_SEEN))
    assert check.ok, check.detail


def test_an_api_that_lets_a_viewer_write_or_misreports_fails_and_says_so() -> None:
    seen = API_SEEN | {"viewer_pause": 200, "audited_refusals": 0,
                       "positions": [{"symbol": "BTCUSDT", "qty": "0.02"}]}  # fmt: skip
    check = checks.check_api(checks.Observations(config={}, bots=BOT_ROWS, api=seen))
    assert not check.ok
    assert "viewer_pause: 200 (expected 403)" in check.detail
    assert "differ from analytics.bot_positions" in check.detail
    assert "left no audit row" in check.detail
    unreachable = checks.Observations(config={}, bots=BOT_ROWS, api={"error": "exited 1"})
    assert checks.check_api(unreachable).detail == "exited 1"


def _candles(database: Any, bars: list[tuple[str, str, datetime]], now: datetime) -> Any:
    """What the rehearsal reads, by its own SQL, from a real database holding ``bars``."""
    from decimal import Decimal

    from core.candles import Candle
    from core.config import Role
    from deploy.compose_file import load, registrations
    from deploy.rehearsal import observe
    from market_data.collect import insert_closed

    one = Decimal(1)
    with database.connect(Role.OWNER, direct=True) as conn:
        insert_closed(conn, "paper", [  # as the collector writes them
            Candle(sym, interval, at, one, one, one, one, one, one) for sym, interval, at in bars
        ])  # fmt: skip
        conn.commit()
        rows = conn.execute(observe.CANDLES_SQL, {"now": now}).fetchall()
    registered = {b: f["symbols"] for b, f in registrations(load()).items()}
    return checks.Observations(
        config=config(),
        registered_symbols=registered,
        candles=observe.candle_counts([[str(v) for v in row] for row in rows]),
    )


SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT,LINKUSDT,AVAXUSDT,BNBUSDT,ADAUSDT,LTCUSDT"


def test_the_collector_storing_every_registered_symbol_passes(database) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    bars = [(s, i, start) for s in SYMBOLS.split(",") for i in ("5", "15", "240")]
    bars.append(("BTCUSDT", "5", start + timedelta(minutes=5)))
    check = checks.check_candles(_candles(database, bars, start + timedelta(hours=4)))
    assert check.ok, check.detail
    assert check.detail == "31 closed bars of 10 symbols at 5, 15, 240 minutes"


def test_a_symbol_not_collected_or_a_bar_stored_early_fails(database) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    bars = [(s, i, start) for s in SYMBOLS.split(",") for i in ("5", "15", "240")
            if (s, i) != ("LTCUSDT", "240")]  # fmt: skip
    # Closes at 00:15; the exchange's clock says 00:10: a forming bar was stored.
    now = start + timedelta(minutes=10)
    check = checks.check_candles(_candles(database, bars, now))
    assert not check.ok
    assert "no closed bars of LTCUSDT 240" in check.detail, check.detail
    assert "bars stored before they closed: " in check.detail
    # Every 15- and 240-minute bar opened at 00:00 is still forming at 00:10.
    assert "BTCUSDT 15" in check.detail and "BTCUSDT 5" not in check.detail


def test_lxalgos_universe_without_the_thin_alts_passes_and_with_one_fails() -> None:
    thin = ["KSMUSDT", "ZILUSDT"]
    good = {"symbols": ["BTCUSDT", "ETHUSDT"], "updated_at": "2026-01-01T04:00:00+00:00"}
    check = checks.check_universe(checks.Observations(config={}, universe=good,
                                                      thin_symbols=thin))  # fmt: skip
    assert check.ok and "2 symbols BTCUSDT,ETHUSDT" in check.detail
    assert "KSMUSDT,ZILUSDT" in check.detail
    bad = {"symbols": ["BTCUSDT", "ZILUSDT"]}
    check = checks.check_universe(checks.Observations(config={}, universe=bad,
                                                      thin_symbols=thin))  # fmt: skip
    assert not check.ok and "includes thin ZILUSDT" in check.detail
    for missing in ({}, {"error": "exited 1"}):
        check = checks.check_universe(checks.Observations(config={}, universe=missing))
        assert not check.ok


# --- risk limits ---------------------------------------------------------------------------

RISK = {"risk": {"max_daily_loss_pct": "5", "max_drawdown_pct": "25"}}


def _ledger_row(n: int, side: str, qty: str, price: str, at: str, fee: str = "0",
                placed: str = "", symbol: str = "BTCUSDT") -> dict[str, Any]:  # fmt: skip
    """One ``trading.fills`` row as ``observe.fills`` reads it (``placed``: its order's
    ``created_time``, empty when the ledger has no order row)."""
    return {
        "account": "main", "exec_id": f"e{n}", "bot_id": "ss", "symbol": symbol,
        "side": side, "exec_qty": qty, "reason": "", "ingested_epoch": str(n),
        "category": "linear", "exec_price": price, "exec_fee": fee, "fee_currency": "USDT",
        "exec_type": "Trade", "exec_time": at, "seq": str(n), "order_created": placed,
    }  # fmt: skip


def _alert(kind: str, at: float, market_time: str, text: str = "") -> dict[str, Any]:
    return {"kind": kind, "bot_id": "ss", "at": at, "market_time": market_time,
            "text": text or f"ss: {kind}"}  # fmt: skip


def _risk(fills: list[dict[str, Any]], config: dict[str, Any] = RISK,
          alerts: list[dict[str, Any]] | None = None,
          funding: list[dict[str, Any]] | None = None,
          grace_s: float = 0.0) -> checks.Check:  # fmt: skip
    obs = checks.Observations(
        config={}, bots=[{"bot_id": "ss", "config": config, "initial_capital": "1000"}],
        registered_symbols={"ss": "BTCUSDT"}, capital={"ss": "1000"}, fills=fills,
        funding=funding or [], risk_alerts=alerts or [], risk_grace_s=grace_s,
    )  # fmt: skip
    return checks.check_risk_limits(obs)


def test_risk_limits_within_limits_pass_with_exact_figures() -> None:
    # −10 realized, 0.5 fee on each of three fills: 1000 → 988.5 on day one.
    check = _risk([
        _ledger_row(1, "Buy", "1", "100", "2026-01-01T10:00:00", fee="0.5"),
        _ledger_row(2, "Sell", "1", "90", "2026-01-01T11:00:00", fee="0.5"),
        _ledger_row(3, "Buy", "1", "90", "2026-01-01T12:00:00", fee="0.5"),
    ])  # fmt: skip
    assert check.ok, check.detail
    assert check.name == "risk limits"
    assert check.detail == "realized, no entry past a limit: ss day -1.15%/5% dd 1.15%/25% no halt"


def _daily_loss_then_entry(entry_at: str, placed: str = "", grace_s: float = 0.0) -> checks.Check:
    # −60 on 1000 at 11:00: a 6 % realized loss of the day, past the 5 % limit.
    return _risk([
        _ledger_row(1, "Buy", "1", "100", "2026-01-01T10:00:00"),
        _ledger_row(2, "Sell", "1", "40", "2026-01-01T11:00:00"),
        _ledger_row(3, "Buy", "1", "40", entry_at, placed=placed),
    ], grace_s=grace_s)  # fmt: skip


def test_risk_limits_an_entry_after_the_daily_limit_fails_and_the_next_day_passes() -> None:
    check = _daily_loss_then_entry("2026-01-01T23:59:59")
    assert not check.ok
    assert check.detail == (
        "ss: entry Buy 1 BTCUSDT placed 2026-01-01 23:59:59 UTC (e3) after the realized daily"
        " loss had crossed its limit (ss day -6.00%/5% dd 6.00%/25% no halt)"
    )
    next_day = _daily_loss_then_entry("2026-01-02T00:00:00")
    assert next_day.ok, next_day.detail
    assert next_day.detail.endswith("ss day -6.00%/5% dd 6.00%/25% no halt")
    # Placed on the halted day, filled on the next: still an entry the host should not
    # have placed.
    late = _daily_loss_then_entry("2026-01-02T00:00:00", placed="2026-01-01T12:00:00")
    assert not late.ok and "placed 2026-01-01 12:00:00 UTC (e3)" in late.detail


def test_risk_limits_a_resting_entry_placed_before_the_crossing_may_fill_after_it() -> None:
    # A halt refuses new entries; it does not cancel a limit entry already resting.
    assert _daily_loss_then_entry("2026-01-01T15:00:00", placed="2026-01-01T10:30:00").ok
    # Within the host's lag after the crossing (11:00) it may not have known yet.
    assert _daily_loss_then_entry("2026-01-01T11:30:00", grace_s=3600).ok
    assert not _daily_loss_then_entry("2026-01-01T12:00:00", grace_s=3600).ok


def _drawdown_then_entry(alerts: list[dict[str, Any]] | None = None) -> checks.Check:
    # Day one −40 (4 %), day two −45 (4.6875 % of 960): each day within 5 %, but 8.5 %
    # below the peak of 1000, past a drawdown limit of 8 %; the entry is on day three.
    config = {"risk": {"max_daily_loss_pct": "5", "max_drawdown_pct": "8"}}
    return _risk([
        _ledger_row(1, "Buy", "1", "100", "2026-01-01T10:00:00"),
        _ledger_row(2, "Sell", "1", "60", "2026-01-01T11:00:00"),
        _ledger_row(3, "Sell", "1", "100", "2026-01-02T10:00:00"),
        _ledger_row(4, "Buy", "1", "145", "2026-01-02T11:00:00"),
        _ledger_row(5, "Buy", "2", "145", "2026-01-03T09:00:00"),
    ], config=config, alerts=alerts)  # fmt: skip


def test_risk_limits_an_entry_past_the_drawdown_fails_unless_an_operator_lifted_it() -> None:
    check = _drawdown_then_entry()
    assert not check.ok
    assert check.detail == (
        "ss: entry Buy 2 BTCUSDT placed 2026-01-03 09:00:00 UTC (e5) after the realized"
        " drawdown had crossed its limit (ss day -4.69%/5% dd 8.50%/8% no halt)"
    )
    reset = [
        _alert("risk_halt", 50.0, "2026-01-02T11:00:00+00:00", "ss: entries halted: dd"),
        _alert("risk_lift", 60.0, "2026-01-03T08:00:00+00:00",
               "ss: entries allowed again (reset by cli)"),
    ]  # fmt: skip
    lifted = _drawdown_then_entry(reset)
    assert lifted.ok, lifted.detail
    assert "1 halt(s): ss: entries halted: dd" in lifted.detail
    # The same halt lifted by a new UTC day, not by an operator: the drawdown stands.
    by_day = "ss: entries allowed again (a new UTC day (2026-01-03))"
    new_day = [reset[0], _alert("risk_lift", 60.0, "2026-01-03T00:00:00+00:00", by_day)]
    assert not _drawdown_then_entry(new_day).ok


def test_risk_limits_an_entry_placed_during_the_hosts_halt_fails() -> None:
    halt = [_alert("risk_halt", 100.0, "2026-01-01T10:30:00+00:00")]
    first = _ledger_row(1, "Buy", "1", "100", "2026-01-01T10:00:00")
    during = _ledger_row(2, "Buy", "1", "100", "2026-01-01T11:00:00")
    check = _risk([first, during], alerts=halt)
    assert not check.ok
    assert "(e2) while the host's risk_halt was in force" in check.detail
    assert "1 halt(s): ss: risk_halt" in check.detail
    resting = _ledger_row(2, "Buy", "1", "100", "2026-01-01T11:00:00", placed="2026-01-01T10:15:00")
    assert _risk([first, resting], alerts=halt).ok
    lift = _alert("risk_lift", 105.0, "2026-01-01T10:45:00+00:00")
    assert _risk([first, during], alerts=[*halt, lift]).ok


def test_risk_limits_count_funding_paid_and_exits_are_never_blocked() -> None:
    funding = [{"account": "main", "exec_id": "f1", "bot_id": "ss", "funding_fee": "55",
                "exec_time": "2026-01-01T08:00:00", "ingested_epoch": "5"}]  # fmt: skip
    check = _risk([
        _ledger_row(1, "Buy", "1", "100", "2026-01-01T07:00:00"),
        _ledger_row(2, "Sell", "1", "100", "2026-01-01T09:00:00"),  # an exit: allowed
        _ledger_row(3, "Sell", "1", "100", "2026-01-01T10:00:00"),  # an entry (short): not
    ], funding=funding)  # fmt: skip
    assert not check.ok
    assert "(e3) after the realized daily loss" in check.detail
    assert "(e2)" not in check.detail
    assert check.detail.endswith("ss day -5.50%/5% dd 5.50%/25% no halt)")


def test_risk_limits_fail_without_limits_or_capital() -> None:
    assert _risk([], config={}).detail == "ss: no loss limits registered"
    obs = checks.Observations(config={}, bots=[{"bot_id": "ss", "config": RISK}],
                              registered_symbols={"ss": "BTCUSDT"})  # fmt: skip
    check = checks.check_risk_limits(obs)
    assert not check.ok and check.detail == "ss: its capital basis was not found"
    obs.risk_error = "probe failed"
    assert checks.check_risk_limits(obs).detail == "not read: probe failed"


def _refused(bot_id: str, code: str, symbol: str = "LINKUSDT") -> dict[str, str]:
    return {"bot_id": bot_id, "code": code, "symbol": symbol,
            "text": f"{bot_id}: order rejected by the exchange (entry Buy 1.2 {symbol}): "
                    f"{code}: reason"}  # fmt: skip


def test_orders_refused_by_the_market_pass_and_counted() -> None:
    obs = checks.Observations(config={}, rejections=[
        _refused("orderblock_001", "110007"), _refused("orderblock_001", "110007"),
        _refused("orderblock_001", "110093", "BTCUSDT"),
    ])  # fmt: skip
    check = checks.check_refusals(obs)
    assert check.ok, check.detail
    assert check.detail == (
        "none refused as malformed; refused: orderblock_001 110007×2, orderblock_001 110093×1"
    )
    assert checks.check_refusals(checks.Observations(config={}, rejections=[])).detail == (
        "none refused as malformed; refused: none"
    )


def test_an_order_refused_as_malformed_fails_and_names_it() -> None:
    """What the rehearsal did not see: LXAlgo sized every symbol its universe added with
    the fallback instrument rules, and each entry was refused ``10001: Qty invalid``."""
    obs = checks.Observations(config={}, rejections=[
        _refused("lxalgo_001", "10001"), _refused("orderblock_001", "110007"),
        _refused("lxalgo_001", "10001", "AVAXUSDT"),
    ])  # fmt: skip
    check = checks.check_refusals(obs)
    assert not check.ok
    assert check.detail.startswith(
        "2 refused as malformed (lxalgo_001 10001×2, orderblock_001 110007×1); first: "
        "lxalgo_001: order rejected by the exchange (entry Buy 1.2 LINKUSDT)"
    ), check.detail
    obs.rejections, obs.risk_error = None, "probe failed"
    assert checks.check_refusals(obs).detail == "not read: probe failed"


def test_a_rehearsal_stopped_before_verification_passes_nothing_it_did_not_see() -> None:
    """A CI run once stopped two minutes in (a fault step's command failed): the stack
    had come up in order and healthy, nothing else was read, and yet "production
    registrations", "trading", "risk limits" and "positions sum to the exchange's"
    passed on empty data. Only what was seen may pass."""
    obs = checks.Observations(config=config(), events=startup(), up_seconds=53.0,
                              prometheus_targets=[("paper_exchange:9100", "up")],
                              memory={"redis": (15 * 2**20, 512 * 2**20)})  # fmt: skip
    passed = {c.name for c in checks.evaluate(obs) if c.ok}
    assert passed == {"start order", "restart policies", "healthy after up",
                      "prometheus targets", "memory"}  # fmt: skip
