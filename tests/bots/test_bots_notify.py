"""The notifier's pure parts: settings, quiet hours, what each event carries and says.

The end-to-end proof (real listener, paper exchange, C2 and fake Bot API) is
``tests/telegram_c2/test_c2_trade_notifications.py``; these pin the details.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from bots.runtime.notify import Closing, Notifier, plain
from core import plugins
from core.errors import UserError
from core.notify import KINDS, NotifySettings, settings_of
from core.orders import Outcome, Result, TrackedOrder
from core.strategy import AmendStop, EnterMarket, ExitMarket, FillEvent, Reason

NIGHT = datetime(2024, 3, 4, 23, 30, tzinfo=UTC)
NOON = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
SS = {"symbols": ["BTCUSDT"], "interval": "1"}


def _notifier(clock=NOON, closing=None, **settings) -> tuple[Notifier, list[dict[str, str]]]:
    sent: list[dict[str, str]] = []
    notifier = Notifier(
        "ss1", NotifySettings(**settings), sent.append,
        closing=lambda fields: closing, clock=lambda: clock,
    )  # fmt: skip
    return notifier, sent


def _fill(reason: Reason, side="Sell", qty="0.117", price="59799.9", fee="3.848123565"):
    event = FillEvent("BTCUSDT", side, Decimal(price), Decimal(qty), Decimal(fee), reason,
                      "ss1-xx-1-1", NOON)  # fmt: skip
    fields = {"exec_id": "e1", "exec_time": NOON.isoformat(), "seq": "7", "exec_type": "Trade"}
    return event, fields


def _order(reason: Reason, qty="0.117", filled="0.117") -> TrackedOrder:
    return TrackedOrder("i1", "ss1-xx-1-1", "BTCUSDT", "stop", "Buy", qty, reason.value,
                        filled=filled)  # fmt: skip


def test_settings_default_to_everything_on_and_no_quiet_hours() -> None:
    settings = settings_of({"symbols": ["BTCUSDT"]})
    assert all(settings.wants(kind, "info", NIGHT) for kind in KINDS)


@pytest.mark.parametrize(
    ("hours", "quiet", "loud"),
    [
        ("22:00-07:00", [NIGHT, NIGHT.replace(hour=6, minute=59), NIGHT.replace(hour=22)],
         [NOON, NIGHT.replace(hour=7, minute=0)]),
        ("09:30-17:00", [NOON, NOON.replace(hour=9, minute=30)], [NIGHT, NOON.replace(hour=17)]),
    ],
)  # fmt: skip
def test_quiet_hours_are_utc_and_may_wrap_midnight(hours, quiet, loud) -> None:
    settings = NotifySettings(quiet_hours=hours)
    assert [settings.quiet_at(t) for t in quiet] == [True] * len(quiet)
    assert [settings.quiet_at(t) for t in loud] == [False] * len(loud)
    # Quiet hours mute info only.
    assert not settings.wants("trade_exit", "info", quiet[0])
    assert settings.wants("trade_exit", "warning", quiet[0])
    assert settings.wants("trade_exit", "critical", quiet[0])


@pytest.mark.parametrize(
    ("notify", "error"),
    [
        ({"trade_entries": False}, "notify.trade_entries: Extra inputs are not permitted"),
        ({"trade_exit": "sometimes"}, "notify.trade_exit: Input should be a valid boolean"),
        ({"quiet_hours": "22-07"}, 'notify.quiet_hours: Value error, must be "HH:MM-HH:MM"'),
        ({"quiet_hours": "24:00-07:00"}, "notify.quiet_hours"),
        ({"quiet_hours": "07:00-07:00"}, "start and end are the same time"),
        (False, "notify.(config): Input should be a valid dictionary"),
    ],
)
def test_bad_notify_settings_are_refused_in_one_line(notify, error) -> None:
    with pytest.raises(UserError, match="invalid config for bot type 'shortseller'") as info:
        plugins.validate_config("shortseller", SS | {"notify": notify})
    assert error in str(info.value)
    with pytest.raises(ValidationError):
        settings_of({"notify": notify})


def test_registration_stores_only_the_settings_given() -> None:
    stored = plugins.validate_registration(
        "shortseller", SS | {"notify": {"trade_entry": False, "quiet_hours": "22:00-07:00"}}
    )
    assert stored["notify"] == {"trade_entry": False, "quiet_hours": "22:00-07:00"}
    assert "notify" not in plugins.validate_registration("shortseller", SS)
    # The strategy never sees them.
    assert not hasattr(plugins.validate_config("shortseller", SS | {"notify": {}}), "notify")


def test_an_entry_fill_carries_its_figures_as_exact_strings() -> None:
    notifier, sent = _notifier()
    event, fields = _fill(Reason.ENTRY)
    notifier.filled(event, fields, _order(Reason.ENTRY, qty="0.2", filled="0.117"))
    (entry,) = sent
    assert entry["kind"] == "trade_entry" and entry["severity"] == "info"
    assert entry["key"] == "trade_entry:ss1:e1"  # one incident per execution
    assert (entry["qty"], entry["price"], entry["fee"]) == ("0.117", "59799.9", "3.848123565")
    assert (entry["order_qty"], entry["order_filled"]) == ("0.2", "0.117")
    assert entry["text"] == ("ss1: entry filled, Sell 0.117 BTCUSDT @ 59799.9, fee 3.848123565"
                             " USDT (partial: 0.117 of 0.2)")  # fmt: skip


@pytest.mark.parametrize(
    ("reason", "word"),
    [(Reason.SL, "stop"), (Reason.BREAK_EVEN, "stop"), (Reason.TP, "take_profit"),
     (Reason.TRAIL, "trailing"), (Reason.KILL, "flatten"), (Reason.EXIT, "signal"),
     (Reason.TIME, "signal"), (Reason.REGIME, "signal"), (Reason.MANUAL, "manual")],
)  # fmt: skip
def test_an_exit_says_why(reason, word) -> None:
    notifier, sent = _notifier(closing=Closing(Decimal("-73.852604865"), Decimal(0)))
    event, fields = _fill(reason, side="Buy")
    notifier.filled(event, fields, None)
    assert (sent[0]["kind"], sent[0]["exit_reason"]) == ("trade_exit", word)
    assert sent[0]["order_reason"] == reason.label


def test_a_trailed_stop_is_reported_as_trailing_though_its_link_says_sl() -> None:
    notifier, sent = _notifier(closing=Closing(Decimal("12.5"), Decimal(0), Decimal("8.75")))
    event, fields = _fill(Reason.SL, side="Buy")
    notifier.filled(event, fields, _order(Reason.TRAIL))  # the order was amended by a trail
    (exit_,) = sent
    assert exit_["exit_reason"] == "trailing"
    assert (exit_["pnl"], exit_["trade_pnl"], exit_["position_after"]) == ("12.5", "8.75", "0")
    assert exit_["text"].endswith(
        "P&L 12.5 USDT net of its fee; trade closed, net 8.75 USDT after all fees"
    )


def test_an_exit_without_a_ledger_row_says_so_instead_of_guessing() -> None:
    notifier, sent = _notifier(closing=None)
    event, fields = _fill(Reason.TP, side="Buy")
    notifier.filled(event, fields, None)
    assert "pnl" not in sent[0] and "P&L not available from the ledger" in sent[0]["text"]


def test_an_execution_no_order_caused_is_an_exit_named_by_its_type() -> None:
    notifier, sent = _notifier(closing=Closing(Decimal("-1"), Decimal(0)))
    event, fields = _fill(Reason.MANUAL, side="Buy")
    notifier.filled(event, fields | {"exec_type": "BustTrade"}, None)
    assert sent[0]["exit_reason"] == "BustTrade"


def test_a_rejection_names_the_order_and_the_exchange_code() -> None:
    notifier, sent = _notifier()
    intent = EnterMarket("i1", "BTCUSDT", "Sell", Decimal("23.4113"))
    tracked = TrackedOrder("i1", "ss1-en-1-1", "BTCUSDT", "entry", "Sell", "23.411", "en")
    refusal = "110007: ab not enough for new order"
    notifier.order_rejected(
        Result(Outcome.REJECTED, intent, "ss1-en-1-1", refusal, tracked, 110007)
    )
    amend = AmendStop("i2", "BTCUSDT", trigger_price=Decimal("60000"), reason=Reason.TRAIL)
    notifier.order_rejected(
        Result(Outcome.REJECTED, amend, "ss1-sl-1-1", "10001: bad", None, 10001)
    )
    first, second = sent
    assert (first["code"], first["order"], first["qty"], first["side"]) == (
        "110007", "entry", "23.411", "Sell")  # fmt: skip
    assert first["key"] == "order_rejected:ss1:BTCUSDT:110007"  # repeats are one incident
    assert first["text"] == ("ss1: order rejected by the exchange (entry Sell 23.411 BTCUSDT):"
                             " 110007: ab not enough for new order")  # fmt: skip
    assert (second["order"], second["code"], second["reason"]) == ("amend", "10001", "trail")


def test_halt_lift_flatten_and_universe() -> None:
    notifier, sent = _notifier()
    notifier.risk_halt("daily loss 3.00% from 10000 at 00:00 UTC ≥ 3%")
    notifier.risk_lift("a new UTC day (2024-03-05)")
    exits = [ExitMarket("x", "ETHUSDT", "Sell", Decimal("2.50"), Reason.KILL),
             ExitMarket("y", "BTCUSDT", "Buy", Decimal("0.117"), Reason.KILL)]  # fmt: skip
    notifier.flatten_done(exits, 2)
    notifier.flatten_done([], 0)
    notifier.universe(["BTCUSDT", "SOLUSDT"], ["SOLUSDT"], ["ETHUSDT"])
    assert [s["kind"] for s in sent] == [
        "risk_halt", "risk_lift", "flatten_done", "flatten_done", "universe"]  # fmt: skip
    halt, lift, flat, empty, universe = sent
    assert halt["key"] == lift["key"] == "risk_halt:ss1"  # the lift ends the halt's incident
    assert (halt["resolved"], lift["resolved"]) == ("0", "1")
    assert flat["text"] == ("ss1: flatten done: closing Buy 0.117 BTCUSDT, Sell 2.5 ETHUSDT;"
                            " 2 resting order(s) cancelled")  # fmt: skip
    assert "nothing was open" in empty["text"] and flat["key"] != universe["key"]
    assert (universe["joined"], universe["left"]) == ("SOLUSDT", "ETHUSDT")
    assert all(s["severity"] == "info" and s["bot_id"] == "ss1" for s in sent)


def test_events_turned_off_or_in_quiet_hours_are_not_published() -> None:
    notifier, sent = _notifier(trade_entry=False, risk_halt=False)
    notifier.filled(*_fill(Reason.ENTRY), None)
    notifier.risk_halt("x")
    notifier.risk_lift("y")
    assert [s["kind"] for s in sent] == ["risk_lift"]
    asked: list[dict[str, str]] = []
    quiet, sent = _notifier(clock=NIGHT, closing=Closing(Decimal(1), Decimal(0)),
                            quiet_hours="22:00-07:00")  # fmt: skip
    quiet.closing = lambda fields: asked.append(dict(fields))  # type: ignore[assignment,return-value,func-returns-value]
    quiet.filled(*_fill(Reason.SL), None)
    quiet.flatten_done([], 0)
    assert sent == [] and asked == []  # nothing sent, and the ledger not even read


def test_a_failing_stream_does_not_stop_the_bot(caplog) -> None:
    def broken(fields: dict[str, str]) -> None:
        raise ConnectionError("redis down")

    Notifier("ss1", NotifySettings(), broken).risk_halt("x")
    assert "risk_halt notification not published: redis down" in caplog.text


def test_plain_is_exact_and_never_scientific() -> None:
    values = ("0E-12", "-0.000", "1.500", "-73.852604865000", "1E+3")
    assert [plain(Decimal(x)) for x in values] == ["0", "0", "1.5", "-73.852604865", "1000"]
