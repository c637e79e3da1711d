"""The rehearsal's checker, fed the real compose file broken on purpose and what Docker
would have shown: a failed rehearsal must name its cause."""

from __future__ import annotations

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
