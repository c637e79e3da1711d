"""Which bot an execution belongs to (docs/attribution.md).

In this order:

1. **The orderLinkId's bot code** — every order a bot sends carries its code. The code
   counts only on the account its bot is registered on: another account's code on this
   one is somebody else's order (a copied id, another installation), never that bot's.
   Retired bots keep their code, so their late fills find them.
2. **The account's bound bot** — when the execution's account serves exactly one
   (non-retired) bot, everything no link id of that account claims is that bot's.
3. **The sole holder** — for exchange-generated executions without a link id (ADL,
   liquidation, delivery, settlement) and for funding: the one bot holding that symbol
   on that account.
4. Otherwise the reserved bot ``external`` (manual trades, other tools, ambiguity).

An operator's manual trade (``execType=Trade`` with no link id of ours) is never given
to a bot by rule 3: only the exchange's own executions are, because only those are
caused by a position rather than by somebody's order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from core.fills import Execution
from core.ids import EXTERNAL_BOT, AccountName, BotCode, BotId, Symbol
from core.link_ids import LinkId
from core.link_ids import decode as decode_link_id

#: ``holders(account, symbol)`` → the bots with a non-zero position there.
Holders = Callable[[AccountName, Symbol], set[BotId]]


class Rule(StrEnum):
    LINK_ID = "link_id"
    BOUND_ACCOUNT = "bound_account"
    SOLE_HOLDER = "sole_holder"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class BotRecord:
    """What attribution needs to know of one registered bot (a ``trading.bots`` row)."""

    bot_id: BotId
    bot_code: BotCode
    account: AccountName
    status: str = "active"

    @property
    def retired(self) -> bool:
        return self.status == "retired"


@dataclass(frozen=True, slots=True)
class Attribution:
    bot_id: BotId
    rule: Rule
    #: The decoded orderLinkId (None when it is not one of ours), for Fill.of.
    link: LinkId | None = None


class Attributor:
    """Attributes executions given the registered bots and who holds what."""

    def __init__(self, bots: Iterable[BotRecord], holders: Holders | None = None) -> None:
        #: code → (bot, the account it trades on)
        self._by_code: dict[str, tuple[BotId, AccountName]] = {}
        serving: dict[AccountName, list[BotId]] = defaultdict(list)
        for bot in bots:
            if bot.bot_id == EXTERNAL_BOT:
                continue
            # Codes stay unique forever, so a retired bot's late fills still find it.
            self._by_code[str(bot.bot_code)] = (bot.bot_id, bot.account)
            if not bot.retired:
                serving[bot.account].append(bot.bot_id)
        self._bound = {account: ids[0] for account, ids in serving.items() if len(ids) == 1}
        self._holders = holders

    def bound_bot(self, account: AccountName) -> BotId | None:
        return self._bound.get(account)

    def attribute_order(self, account: AccountName, order_link_id: str) -> Attribution:
        """An order's bot: rules 1, 2 and 4 (an order is never exchange-generated)."""
        link = decode_link_id(order_link_id) if order_link_id else None
        if link is not None:
            owner = self._by_code.get(link.bot_code)
            if owner is not None and owner[1] == account:
                return Attribution(owner[0], Rule.LINK_ID, link)
        bound = self._bound.get(account)
        if bound is not None:
            return Attribution(bound, Rule.BOUND_ACCOUNT, link)
        return Attribution(EXTERNAL_BOT, Rule.EXTERNAL, link)

    def attribute(self, execution: Execution) -> Attribution:
        by_order = self.attribute_order(execution.account, execution.order_link_id)
        if by_order.rule is not Rule.EXTERNAL:
            return by_order
        if (execution.exchange_generated or execution.is_funding) and self._holders is not None:
            holders = self._holders(execution.account, execution.symbol)
            if len(holders) == 1:
                return Attribution(next(iter(holders)), Rule.SOLE_HOLDER, by_order.link)
        return by_order
