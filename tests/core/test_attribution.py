"""Attribution rules in their documented order (docs/ledger.md invariant 6)."""

from __future__ import annotations

from core.attribution import Attributor, BotRecord, Rule
from core.fills import parse_execution
from core.ids import EXTERNAL_BOT, AccountName, BotCode, BotId, Symbol

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
    holders = {(MAIN, Symbol("BTCUSDT")): {SS.bot_id}}
    attributor = Attributor([SS, LX], holders=lambda a, s: holders.get((a, s), set()))
    result = attributor.attribute(execution(MAIN, exec_type="AdlTrade"))
    assert (result.bot_id, result.rule) == (SS.bot_id, Rule.SOLE_HOLDER)
    funding = attributor.attribute(execution(MAIN, exec_type="Funding"))
    assert funding.bot_id == SS.bot_id


def test_ambiguity_manual_trades_and_unknown_codes_go_to_external() -> None:
    both = Attributor([SS, LX], holders=lambda a, s: {SS.bot_id, LX.bot_id})
    assert both.attribute(execution(MAIN, exec_type="BustTrade")).bot_id == EXTERNAL_BOT
    # A person's manual trade is not the holder's, even when there is one holder.
    one = Attributor([SS, LX], holders=lambda a, s: {SS.bot_id})
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
    attributor = Attributor([SS, LX, MO], holders=lambda a, s: {SS.bot_id})
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
