"""Bad data never becomes money: the listener's write path with real PostgreSQL,
PgBouncer and Redis.

- Executions Bybit would never send (no price, no fee, an unknown ``execType``, numbers
  with spaces, separators, exponents or foreign digits) are rejects with a reason,
  kept in ``trading.fill_rejects`` and counted; no position moves.
- The same ``execId`` with other facts is a conflicting duplicate: a reject and one
  alert; an identical re-delivery stays silent. An ``execId`` is stored once, as a
  fill or as funding.
- A row the database refuses (an ``execId`` too large for its index) is rejected on
  its own: the rest of its message commits, and so does the next fill, at once.
- A spool stuck on an error that is not the data's turns ``/healthz`` red with the reason.
- Many-digit numbers: the Redis position, a rebuild from the ledger, the analytics views
  and an independent exact fold agree to the last digit; fees charged in another coin
  are reported apart, never added to USDT.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from core import redis_keys
from core.config import ListenerSettings
from core.fills import settle_coin
from core.redis_client import infra_client
from core.service import run_check
from tests.websocket_listener.helpers import SHARED, execution, ledger, register_bots
from websocket_listener import metrics
from websocket_listener.envelope import Envelope
from websocket_listener.positions import ledger_positions
from websocket_listener.service import Listener

ONE = SHARED[0]


@contextmanager
def _listener(database: Any, tmp_path: Path) -> Iterator[Listener]:
    settings = dataclasses.replace(
        database.settings, listener=ListenerSettings(spool_dir=tmp_path / "spool")
    )
    listener = Listener(settings)
    listener.start_writer()
    try:
        yield listener
    finally:
        listener.pipeline.stop()
        listener.book.drain(10)


def _send(listener: Listener, items: list[Any], source: str = "ws") -> None:
    listener.feed([Envelope.from_ws("main", {"topic": "execution", "data": items}, source)])  # type: ignore[arg-type]
    assert listener.pipeline.flush(30)
    assert listener.book.drain(10)


def _now() -> int:
    return int(time.time() * 1000) - 60_000


def _rejects(database: Any) -> list[str]:
    with database.connect("readonly") as conn:
        return [r[0] for r in conn.execute("SELECT reason FROM trading.fill_rejects ORDER BY id")]


def _position(database: Any) -> dict[str, str]:
    client = database.stack.redis(ONE.redis_db)
    return client.hgetall(redis_keys.position(ONE.bot_id, "BTCUSDT"))  # type: ignore[arg-type]


def _rejected(code: str) -> float:
    return metrics.REJECTS.labels(code)._value.get()


def _alerts(database: Any) -> list[dict[str, str]]:
    entries = infra_client(database.settings).xrange(redis_keys.ALERTS)
    return [fields for _, fields in entries if fields.get("kind") == "fill_conflict"]


# Each malformed variant of a fill of ONE's, with the reject code it must get.
MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"execPrice": ""}, "empty_field"),
    ({"execPrice": None}, "missing_field"),
    ({"execPrice": "0"}, "zero_price"),
    ({"execFee": None}, "missing_field"),
    ({"execFee": ""}, "empty_field"),
    ({"execType": "trade"}, "unknown_exec_type"),
    ({"execType": "TRADE"}, "unknown_exec_type"),
    ({"execType": "Liquidation"}, "unknown_exec_type"),
    ({"execType": None}, "missing_field"),
    ({"execQty": " 0.5"}, "bad_number"),
    ({"execQty": "0.5\n"}, "bad_number"),
    ({"execQty": "1_000"}, "bad_number"),
    ({"execQty": "1,000"}, "bad_number"),
    ({"execQty": "\u0661"}, "bad_number"),  # an Arabic-Indic one
    ({"execQty": "\uff11"}, "bad_number"),  # a full-width one
    ({"execQty": "1e3"}, "bad_number"),
    ({"execQty": "NaN"}, "bad_number"),
    ({"execFee": "Infinity"}, "bad_number"),
    ({"execQty": "+0.5"}, "bad_number"),
    ({"execPrice": "-60000"}, "negative"),
    ({"execFee": "0." + "1" * 40}, "too_many_digits"),
    ({"execTime": " 1700000000000"}, "bad_value"),
    ({"seq": "1_000"}, "bad_value"),
]


def test_malformed_executions_are_rejected_kept_counted_and_move_no_position(
    database, redis, tmp_path
):
    register_bots(database, SHARED)
    start = _now()
    good = execution(ONE, side="Buy", qty="0.5", price="60000", fee="1.5", exec_time=start)
    before = {code: _rejected(code) for _, code in MALFORMED}
    with _listener(database, tmp_path) as listener:
        _send(listener, [good])
        held = _position(database)
        assert held["qty"] == "0.5" and held["fees"] == "1.5" and held["realized_pnl"] == "-1.5"
        for k, (change, _code) in enumerate(MALFORMED):
            item = execution(ONE, side="Sell", qty="0.5", price="61000", exec_time=start + 1 + k)
            for key, value in change.items():
                if value is None:
                    item.pop(key)
                else:
                    item[key] = value
            _send(listener, [item])
        assert {k: v for k, v in _position(database).items() if k != "updated_at"} == {
            k: v for k, v in held.items() if k != "updated_at"
        }
    assert set(ledger(database)) == {good["execId"]}
    reasons = _rejects(database)
    assert len(reasons) == len(MALFORMED)
    for reason, (change, code) in zip(reasons, MALFORMED, strict=True):
        assert reason.startswith(f"execution: {code}: "), (change, reason)
    expected: dict[str, int] = {}
    for _, code in MALFORMED:
        expected[code] = expected.get(code, 0) + 1
    assert {code: _rejected(code) - before[code] for code in expected} == expected


def test_a_conflicting_duplicate_is_a_reject_and_one_alert_an_identical_one_is_silent(
    database, redis, tmp_path
):
    register_bots(database, SHARED)
    original = execution(ONE, side="Buy", qty="0.5", price="60000", fee="1.5", exec_time=_now())
    bigger = dict(original, execQty="0.6", execValue="36000")
    cheaper = dict(original, execFee="1.2")
    before = _rejected("conflicting_duplicate")
    with _listener(database, tmp_path) as listener:
        _send(listener, [original])
        _send(listener, [original])  # the same again, by socket
        _send(listener, [dict(original, execQty="0.50")], source="rest")  # and by catch-up
        assert _rejects(database) == [] and _alerts(database) == []

        _send(listener, [bigger])
        _send(listener, [bigger], source="rest")  # the same conflict again: no second alert
        _send(listener, [cheaper, original])  # a conflict in a batch with identical re-delivery
        position = _position(database)
    assert ledger(database) == {original["execId"]: (ONE.bot_id, "main", Decimal("0.5"))}
    assert position["qty"] == "0.5" and position["fees"] == "1.5"
    reasons = _rejects(database)
    assert len(reasons) == 3, reasons
    assert all(r.startswith("execution: conflicting_duplicate: ") for r in reasons)
    assert "exec_qty 0.5 → 0.6" in reasons[0] and "exec_fee 1.5 → 1.2" in reasons[2]
    assert _rejected("conflicting_duplicate") - before == 3
    alerts = _alerts(database)
    assert len(alerts) == 2, alerts
    assert [a["severity"] for a in alerts] == ["critical", "critical"]
    assert original["execId"] in alerts[0]["text"] and "exec_qty 0.5 → 0.6" in alerts[0]["text"]
    assert "exec_fee 1.5 → 1.2" in alerts[1]["text"]
    with database.connect("readonly") as conn:
        (message,) = conn.execute(
            "SELECT message FROM trading.fill_rejects ORDER BY id LIMIT 1"
        ).fetchone()
    assert json.loads(message)["execQty"] == "0.6"  # the newcomer is kept as received


def test_an_exec_id_is_stored_once_as_a_fill_or_as_funding(database, redis, tmp_path):
    register_bots(database, SHARED)
    start = _now()
    trade = execution(ONE, side="Buy", qty="0.5", price="60000", exec_time=start)
    funding_of_trade = dict(
        execution(None, side="Buy", qty="0.5", price="60000", fee="0.3", exec_time=start + 8,
                  exec_type="Funding"),
        execId=trade["execId"],
    )  # fmt: skip
    funding = execution(None, side="Buy", qty="0.5", price="60000", fee="0.2",
                        exec_time=start + 9, exec_type="Funding")  # fmt: skip
    trade_of_funding = dict(
        execution(ONE, side="Sell", qty="0.5", price="61000", exec_time=start + 10),
        execId=funding["execId"],
    )
    same_batch = execution(ONE, side="Buy", qty="0.1", price="60000", exec_time=start + 11)
    funding_same_batch = dict(funding, execId=same_batch["execId"])
    with _listener(database, tmp_path) as listener:
        _send(listener, [trade])
        _send(listener, [funding_of_trade])
        _send(listener, [funding])
        _send(listener, [trade_of_funding])
        _send(listener, [same_batch, funding_same_batch])
    with database.connect("readonly") as conn:
        fills = {r[0] for r in conn.execute("SELECT exec_id FROM trading.fills")}
        funded = {r[0] for r in conn.execute("SELECT exec_id FROM trading.funding")}
    assert fills == {trade["execId"], same_batch["execId"]}
    assert funded == {funding["execId"]}
    reasons = _rejects(database)
    assert len(reasons) == 3, reasons
    assert "stored as fill → funding" in reasons[0]
    assert "stored as funding → fill" in reasons[1]
    assert "stored as fill → funding" in reasons[2]


def _oversized_exec_id() -> str:
    # Random text compresses poorly: far beyond a btree index row's 2,704 bytes.
    return secrets.token_urlsafe(15_000)


def test_a_row_the_database_refuses_is_rejected_alone_and_the_next_fill_commits_at_once(
    database, redis, tmp_path
):
    register_bots(database, SHARED)
    start = _now()
    first = execution(ONE, side="Buy", qty="0.1", price="60000", exec_time=start)
    poison = dict(
        execution(ONE, side="Buy", qty="0.2", price="60000", exec_time=start + 1),
        execId=_oversized_exec_id(),
    )
    third = execution(ONE, side="Buy", qty="0.3", price="60000", exec_time=start + 2)
    later = execution(ONE, side="Sell", qty="0.4", price="61000", exec_time=start + 3)
    malformed = dict(first, execId="m1", execQty="1e3")
    before = {code: _rejected(code) for code in ("database_refused", "bad_number")}
    with _listener(database, tmp_path) as listener:
        # One message: the refused row must not take the valid ones with it.
        _send(listener, [first, poison, malformed, third])
        assert set(ledger(database)) == {first["execId"], third["execId"]}
        # Each reject counted once, though the batch was built again row by row.
        assert {code: _rejected(code) - n for code, n in before.items()} == {
            "database_refused": 1,
            "bad_number": 1,
        }
        listener.feed([Envelope.from_ws("main", {"topic": "execution", "data": [poison]})])
        sent = time.monotonic()
        listener.feed([Envelope.from_ws("main", {"topic": "execution", "data": [later]})])
        while later["execId"] not in ledger(database):
            assert time.monotonic() - sent < 1.0, "the next fill waited behind the bad one"
            time.sleep(0.01)
        assert listener.pipeline.flush(30) and listener.book.drain(10)
        assert len(listener.pipeline.spool) == 0
        assert all(run_check(c)[0] for c in listener.health_checks().values() if c)
        position = _position(database)
    assert position["qty"] == "0"  # 0.1 + 0.3 − 0.4: the refused 0.2 moved nothing
    reasons = [r for r in _rejects(database) if "bad_number" not in r]
    assert len(reasons) == 2
    for reason in reasons:
        assert reason.startswith("execution: database_refused: ProgramLimitExceeded [54000]: ")
        assert "index row" in reason
    with database.connect("readonly") as conn:
        (message,) = conn.execute(
            "SELECT message FROM trading.fill_rejects ORDER BY id LIMIT 1"
        ).fetchone()
    assert json.loads(message)["items"] == [poison]


def test_a_spool_stuck_on_an_error_that_is_not_the_data_turns_healthz_red(
    database, redis, tmp_path
):
    register_bots(database, SHARED)
    fill = execution(ONE, side="Buy", qty="0.1", price="60000", exec_time=_now())
    listener_role = f"{database.stack.prefix}_listener"
    with database.connect("owner", direct=True, autocommit=True) as owner:
        # Not the data's fault (a grant lost in a migration): spool, retry, say so.
        owner.execute(f"REVOKE INSERT ON trading.fills FROM {listener_role}")
        with _listener(database, tmp_path) as listener:
            listener.spool_stuck_seconds = 0.5
            listener.feed([Envelope.from_ws("main", {"topic": "execution", "data": [fill]})])
            assert listener.pipeline.flush(30)
            assert len(listener.pipeline.spool) == 1
            time.sleep(0.6)
            ok, detail = run_check(listener.health_checks()["spool"])
            assert not ok
            assert detail.startswith("spool stuck for ") and "1 messages waiting" in detail
            assert "InsufficientPrivilege [42501]: permission denied for table fills" in detail
            assert _rejects(database) == []  # nothing of the data was thrown away

            owner.execute(f"GRANT INSERT ON trading.fills TO {listener_role}")
            deadline = time.monotonic() + 15
            while fill["execId"] not in ledger(database):
                assert time.monotonic() < deadline, "the spool was not replayed"
                time.sleep(0.05)
            assert listener.pipeline.flush(30)
            assert run_check(listener.health_checks()["spool"]) == (True, "ok")


def _exact_round(numerator: Fraction, denominator: Fraction) -> Fraction:
    """round_half_up(n / d, 12) for n ≥ 0 < d, as the fold documents it."""
    scale = 10**12
    return Fraction(math.floor((2 * numerator * scale + denominator) / (2 * denominator)), scale)


def _oracle(items: list[dict[str, Any]]) -> dict[str, Fraction]:
    """An independent exact fold (Fractions) of the documented rules, one fill at a time."""
    q = cost = realized = fees = Fraction(0)
    for item in items:
        fee = Fraction(item["execFee"]) if item["feeCurrency"] in ("USDT", "") else Fraction(0)
        realized -= fee
        fees += fee
        price = Fraction(item["execPrice"])
        s = Fraction(item["execQty"]) * (1 if item["side"] == "Buy" else -1)
        if q == 0 or (q > 0) == (s > 0):
            q, cost = q + s, cost + abs(s) * price
        else:
            closed = min(abs(s), abs(q))
            removed = cost if closed == abs(q) else _exact_round(cost * closed, abs(q))
            realized += (closed * price - removed) * (1 if q > 0 else -1)
            was_long = q > 0
            q, cost = q + s, cost - removed
            if q and (q > 0) != was_long:
                cost = abs(q) * price
        if q == 0:
            cost = Fraction(0)
    avg = _exact_round(cost, abs(q)) if q else Fraction(0)
    return {"qty": q, "avg_price": avg, "realized_pnl": realized, "fees": fees}


def _many_digit_fills(rng: random.Random, count: int, start: int) -> list[dict[str, Any]]:
    """Fills whose numbers carry as many digits as the parser accepts: 30-decimal fees
    (rebates too), 12-decimal prices, 9-decimal quantities, partial closes in thirds and
    flips; some fees charged in BTC."""
    out, held = [], Decimal(0)
    for i in range(count):
        if held and rng.random() < 0.45:
            side = "Sell" if held > 0 else "Buy"
            part = rng.choice([Decimal(1) / 3, Decimal(2) / 7, Decimal(1), Decimal("1.5")])
            qty = (abs(held) * part).quantize(Decimal("1e-9")) or Decimal("1e-9")
        else:
            side = rng.choice(["Buy", "Sell"])
            qty = Decimal(f"{rng.randint(0, 99)}.{rng.randint(1, 10**9 - 1):09d}")
        price = f"{rng.randint(1, 99_999)}.{rng.randint(0, 10**12 - 1):012d}"
        sign = "-" if rng.random() < 0.2 else ""
        fee = f"{sign}{rng.randint(0, 999)}.{rng.randint(0, 10**30 - 1):030d}"
        item = execution(ONE, side=side, qty=format(qty, "f"), price=price, fee=fee,
                         exec_time=start + i)  # fmt: skip
        if i % 7 == 3:
            item.update(feeCurrency="BTC", execFee=f"0.{rng.randint(1, 10**12 - 1):012d}")
        elif i % 7 == 5:
            item["feeCurrency"] = ""  # as older REST items: the settle coin
        out.append(item)
        held += qty if side == "Buy" else -qty
    return out


def test_many_digit_fees_agree_exactly_in_redis_the_ledger_and_the_analytics(
    database, redis, tmp_path
):
    register_bots(database, SHARED)
    items = _many_digit_fills(random.Random(15), 240, _now() - 10_000)
    expected = _oracle(items)
    with _listener(database, tmp_path) as listener:
        for k in range(0, len(items), 40):  # messages of 40 fills, and of one
            if k % 80:
                _send(listener, items[k : k + 40])
            else:
                for item in items[k : k + 40]:
                    _send(listener, [item])
        redis_view = _position(database)
    names = ("qty", "avg_price", "realized_pnl", "fees")
    assert {n: Fraction(Decimal(redis_view[n])) for n in names} == expected
    with database.connect("readonly") as conn:
        rows = conn.execute(
            "SELECT qty, avg_price, realized_pnl, fees FROM analytics.bot_positions"
            " WHERE bot_id = %s AND symbol = 'BTCUSDT'",
            (ONE.bot_id,),
        ).fetchone()
        daily = conn.execute(
            "SELECT sum(realized_pnl), sum(fees) FROM analytics.bot_daily_pnl WHERE bot_id = %s",
            (ONE.bot_id,),
        ).fetchone()
        other = conn.execute(
            "SELECT fee_currency, sum(fees), sum(fills) FROM analytics.other_coin_fees"
            " WHERE bot_id = %s GROUP BY 1",
            (ONE.bot_id,),
        ).fetchall()
        rebuilt = ledger_positions(conn, ONE.bot_id)[(ONE.account, ONE.bot_id, "BTCUSDT")]  # type: ignore[index]
    assert dict(zip(names, map(Fraction, rows), strict=True)) == expected
    assert {n: Fraction(getattr(rebuilt, n)) for n in names} == expected
    assert (Fraction(daily[0]), Fraction(daily[1])) == (expected["realized_pnl"], expected["fees"])
    btc = [it for it in items if it["feeCurrency"] == "BTC"]
    assert other == [("BTC", sum(Decimal(it["execFee"]) for it in btc), len(btc))]
    assert len(str(expected["fees"].numerator)) > 28  # beyond the default decimal context


def test_the_settle_coin_rule_is_the_same_in_python_and_in_sql(database):
    symbols = ("BTCUSDT", "ETHPERP", "SOLUSDC", "BTCUSD", "USD", "XRPUSDH26", "ETHBTC")
    cases = [(c, s) for c in ("linear", "inverse", "spot", "option") for s in symbols]
    with database.connect("readonly") as conn:
        in_sql = [
            conn.execute("SELECT analytics.settle_coin(%s, %s)", case).fetchone()[0]  # type: ignore[index]
            for case in cases
        ]
    assert in_sql == [settle_coin(*case) for case in cases]
    assert {coin for coin in in_sql if coin} == {"USDT", "USDC", "BTC"}
