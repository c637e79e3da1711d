"""Attribution rules in their documented order (docs/ledger.md invariant 6)."""

from __future__ import annotations

from decimal import Decimal

from core.attribution import (
    Attributor,
    BotRecord,
    FillShare,
    Rule,
    by_holders,
    split_fill,
    split_funding,
)
from core.exchange_parsing import parse_execution
from core.ids import EXTERNAL_BOT, AccountName, BotCode, BotId

MAIN, SOLO = AccountName("main"), AccountName("solo")
SS = BotRecord(BotId("shortseller_001"), BotCode("ss1"), MAIN)
LX = BotRecord(BotId("lxalgo_001"), BotCode("lx1"), MAIN)
MO = BotRecord(BotId("momentum_001"), BotCode("mo1"), SOLO)


def execution(
    account: AccountName, link: str = "", exec_type: str = "Trade", symbol: str = "BTCUSDT"
):
    item = {
        "execId": "x1",
        "symbol": symbol,
        "side": "Buy",
        "execPrice": "1",
        "execQty": "1",
        "execFee": "0",
        "execTime": "1700000000000",
        "orderLinkId": link,
        "execType": exec_type,
    }
    return parse_execution(item, account, "ws")


def test_an_account_serving_one_bot_binds_everything_to_it() -> None:
    attributor = Attributor([SS, LX, MO])
    result = attributor.attribute(execution(SOLO, link=""))
    assert (result.bot_id, result.rule) == (MO.bot_id, Rule.BOUND_ACCOUNT)


def test_link_id_code_decides_on_a_shared_account() -> None:
    attributor = Attributor([SS, LX, MO])
    assert attributor.attribute(execution(MAIN, "lx1-en-mi3k9q2a-1")).bot_id == LX.bot_id
    assert attributor.attribute(execution(MAIN, "ss1-tp-mi3k9q2a-2")).rule is Rule.LINK_ID


def test_exchange_generated_execution_goes_to_the_sole_holder() -> None:
    # The registry cannot tell who held the symbol then: it marks the execution for the
    # holder rule, provisionally the account's fallback (the ledger settles it).
    attributor = Attributor([SS, LX, MO])
    for exec_type in ("AdlTrade", "Funding"):
        shared = attributor.attribute(execution(MAIN, exec_type=exec_type))
        assert (shared.bot_id, shared.rule) == (EXTERNAL_BOT, Rule.NO_HOLDER)
        bound = attributor.attribute(execution(SOLO, exec_type=exec_type))
        assert (bound.bot_id, bound.rule) == (MO.bot_id, Rule.NO_HOLDER)
    # An exchange-generated execution with a link id of the account's bot is that bot's.
    linked = attributor.attribute(execution(MAIN, "lx1-sl-mi3k9q2a-1", exec_type="BustTrade"))
    assert (linked.bot_id, linked.rule) == (LX.bot_id, Rule.LINK_ID)
    holdings = {SS.bot_id: Decimal("0.5"), LX.bot_id: Decimal(0), EXTERNAL_BOT: Decimal(0)}
    assert by_holders(holdings, EXTERNAL_BOT) == (SS.bot_id, Rule.SOLE_HOLDER)


def test_ambiguity_manual_trades_and_unknown_codes_go_to_external() -> None:
    both = {SS.bot_id: Decimal(1), LX.bot_id: Decimal(-2)}
    assert by_holders(both, EXTERNAL_BOT) == (EXTERNAL_BOT, Rule.NO_HOLDER)
    assert by_holders({}, EXTERNAL_BOT) == (EXTERNAL_BOT, Rule.NO_HOLDER)
    # A person's manual trade is not the holder's, even when there is one holder.
    one = Attributor([SS, LX])
    assert one.attribute(execution(MAIN, link="")).rule is Rule.EXTERNAL
    assert one.attribute(execution(MAIN, link="zz9-en-mi3k9q2a-1")).bot_id == EXTERNAL_BOT
    assert one.attribute(execution(MAIN, link="my manual order")).bot_id == EXTERNAL_BOT


def test_retired_bots_keep_their_code_but_free_the_account_binding() -> None:
    retired = BotRecord(LX.bot_id, LX.bot_code, MAIN, status="retired")
    attributor = Attributor([SS, retired])
    assert attributor.bound_bot(MAIN) == SS.bot_id
    # The binding never overrides the link id of a known bot: a retired bot's late fill
    # stays with it, and only what no link id claims falls to the bound bot.
    late = attributor.attribute(execution(MAIN, "lx1-en-mi3k9q2a-1"))
    assert (late.bot_id, late.rule) == (LX.bot_id, Rule.LINK_ID)
    assert attributor.attribute(execution(MAIN, "")).bot_id == SS.bot_id
    shared = Attributor([SS, retired, BotRecord(BotId("other_001"), BotCode("ot1"), MAIN)])
    assert shared.attribute(execution(MAIN, "lx1-en-mi3k9q2a-1")).bot_id == LX.bot_id


def test_orders_follow_the_same_rules_except_the_holder_rule() -> None:
    attributor = Attributor([SS, LX, MO])
    assert attributor.attribute_order(SOLO, "").bot_id == MO.bot_id
    assert attributor.attribute_order(MAIN, "lx1-en-mi3k9q2a-1").bot_id == LX.bot_id
    assert attributor.attribute_order(MAIN, "").bot_id == EXTERNAL_BOT


def test_a_link_id_names_a_bot_only_on_that_bots_own_account() -> None:
    other = BotRecord(BotId("other_001"), BotCode("ot1"), SOLO)
    attributor = Attributor([SS, LX, MO, other])
    # solo serves two bots now: no binding; mo1's code on main is nobody's there.
    on_main = attributor.attribute(execution(MAIN, "mo1-en-mi3k9q2a-1"))
    assert (on_main.bot_id, on_main.rule) == (EXTERNAL_BOT, Rule.EXTERNAL)
    assert attributor.attribute_order(MAIN, "mo1-en-mi3k9q2a-1").bot_id == EXTERNAL_BOT
    # On an account bound to one bot, another account's code falls to the bound bot
    # (as any trade no link id claims does), never to the bot the code names.
    bound = Attributor([SS, LX, MO])
    on_solo = bound.attribute(execution(SOLO, "ss1-en-mi3k9q2a-1"))
    assert (on_solo.bot_id, on_solo.rule) == (MO.bot_id, Rule.BOUND_ACCOUNT)
    # The decoded link id is still reported (reason in reports), only not trusted.
    assert on_main.link is not None and on_main.link.bot_code == "mo1"


def test_funding_shares_sum_exactly_and_the_remainder_goes_to_the_largest_holder() -> None:
    a, b, c = BotId("bot_a"), BotId("bot_b"), BotId("bot_c")
    third = split_funding(Decimal("1"), {a: Decimal(1), b: Decimal(1), c: Decimal(1)}, a)
    # 0.33333333 each, the remainder 0.00000001 to the largest (a tie: the smallest id).
    assert third == [
        (a, Decimal("0.33333334"), Rule.PRO_RATA),
        (b, Decimal("0.33333333"), Rule.PRO_RATA),
        (c, Decimal("0.33333333"), Rule.PRO_RATA),
    ]
    # A finer amount keeps its own scale; a bot short against the others' longs receives
    # (its share has the opposite sign); the remainder 1e-10 goes to c, the largest.
    mixed = split_funding(
        Decimal("0.1234567891"), {a: Decimal("0.3"), b: Decimal("-0.1"), c: Decimal("0.9")}, a
    )
    assert sum(share for _, share, _ in mixed) == Decimal("0.1234567891")
    assert [share for _, share, _ in mixed] == [
        Decimal("0.0336700333"), Decimal("-0.0112233444"), Decimal("0.1010101002"),
    ]  # fmt: skip
    # One holder takes the amount as Bybit sent it; none, or a flat net: the fallback.
    assert split_funding(Decimal("0.5"), {b: Decimal(2)}, a) == [
        (b, Decimal("0.5"), Rule.SOLE_HOLDER)
    ]
    assert split_funding(Decimal("0.5"), {}, a) == [(a, Decimal("0.5"), Rule.NO_HOLDER)]
    flat = split_funding(Decimal("0.5"), {b: Decimal(1), c: Decimal(-1)}, a)
    assert flat == [(a, Decimal("0.5"), Rule.NO_HOLDER)]


def _bots(**qty: str) -> dict[BotId, Decimal]:
    return {BotId(bot): Decimal(q) for bot, q in qty.items()}


def test_an_exchange_fill_is_split_between_the_holders_of_the_side_it_reduces() -> None:
    ext = BotId(EXTERNAL_BOT)
    held = _bots(bot_a="0.002", bot_b="0.004", bot_c="-0.010")
    # Sell: the longs, in lots of 0.001: 4 × 2/6 = 1⅓, 4 × 4/6 = 2⅔ → 1 and 3.
    got = split_fill("Sell", Decimal("0.004"), Decimal("0.4"), Decimal("0.0011"), held, ext)
    assert got == [
        FillShare(BotId("bot_a"), Decimal("0.001"), Decimal("0.1"), Decimal("0.000275"),
                  Rule.PRO_RATA),
        FillShare(BotId("bot_b"), Decimal("0.003"), Decimal("0.3"), Decimal("0.000825"),
                  Rule.PRO_RATA),
    ]  # fmt: skip
    # Buy: the only short takes it all (a share of one, still decided among holders).
    got = split_fill("Buy", Decimal("0.004"), Decimal("0.4"), Decimal("0.0011"), held, ext)
    assert [(s.bot_id, s.qty, s.rule) for s in got] == [
        (BotId("bot_c"), Decimal("0.004"), Rule.PRO_RATA)
    ]
    # Nobody on the reduced side: the fallback, as before splits existed.
    longs = _bots(bot_a="1", bot_b="2")
    got = split_fill("Buy", Decimal("1"), Decimal("100"), Decimal("0"), longs, ext)
    assert [(s.bot_id, s.qty, s.rule) for s in got] == [(ext, Decimal("1"), Rule.NO_HOLDER)]


def test_a_sole_holder_takes_the_whole_fill_whatever_its_side() -> None:
    ext = BotId(EXTERNAL_BOT)
    for side in ("Buy", "Sell"):
        got = split_fill(side, Decimal("3"), Decimal("300"), Decimal("0.2"), _bots(bot_a="5"), ext)
        assert got == [FillShare(BotId("bot_a"), Decimal("3"), Decimal("300"), Decimal("0.2"),
                                 Rule.SOLE_HOLDER)]  # fmt: skip
        assert by_holders(_bots(bot_a="5"), ext) == (BotId("bot_a"), Rule.SOLE_HOLDER)


def test_lots_are_the_largest_power_of_ten_and_ties_go_to_the_smallest_bot_id() -> None:
    ext = BotId(EXTERNAL_BOT)
    # 1200, 2400 and 3600 are multiples of 100 (not of 1000): 12 lots of 100 split 1:2.
    held = _bots(bot_b="2400", bot_a="1200")
    got = split_fill("Sell", Decimal("1200"), Decimal("12"), Decimal("0"), held, ext)
    assert [(s.bot_id, s.qty) for s in got] == [
        (BotId("bot_a"), Decimal("400")),
        (BotId("bot_b"), Decimal("800")),
    ]
    # One lot between two equal longs: the tie goes to the smallest bot id.
    got = split_fill(
        "Sell", Decimal("1"), Decimal("1"), Decimal("0"), _bots(bot_b="1", bot_a="1"), ext
    )
    assert [(s.bot_id, s.qty) for s in got] == [(BotId("bot_a"), Decimal("1"))]


def test_fill_shares_sum_exactly_to_the_exchange_amounts() -> None:
    ext = BotId(EXTERNAL_BOT)
    held = _bots(bot_a="0.007", bot_b="0.011", bot_c="0.013", bot_d="-0.5")
    for qty in ("0.001", "0.009", "0.031", "0.5"):
        for fee in ("0.123456789", "-0.00000007", "0"):
            got = split_fill("Sell", Decimal(qty), Decimal("3.1415"), Decimal(fee), held, ext)
            assert sum(s.qty for s in got) == Decimal(qty)
            assert sum(s.value for s in got) == Decimal("3.1415")
            assert sum(s.fee for s in got) == Decimal(fee)
            assert all(s.qty > 0 and s.bot_id != "bot_d" for s in got)
