"""Which bot an execution belongs to (docs/attribution.md).

In this order:

1. **The orderLinkId's bot code** — every order a bot sends carries its code. The code
   counts only on the account its bot is registered on: another account's code on this
   one is somebody else's order (a copied id, another installation), never that bot's.
   Retired bots keep their code, so their late fills find them.
2. **The holders** — for exchange-generated executions that no link id of the account
   claims (ADL, liquidation, delivery, settlement) and for funding: the bots (``external``
   included) that held the symbol on that account **as of the execution's ledger key**.
   One holder takes it; on a symbol several bots hold, funding is split between them
   (:func:`split_funding`) and so is a fill, between the holders of the side it
   reduces (:func:`split_fill`). The registry cannot say who held what then: the listener
   evaluates this rule from the ledger inside the commit
   (``websocket_listener.holder_rule``), and the :class:`Attributor` only marks such an
   execution :attr:`Rule.NO_HOLDER`, attributed provisionally to the fallback below.
3. **The account's bound bot** — when the account serves exactly one (non-retired) bot,
   everything no earlier rule claims is that bot's.
4. Otherwise the reserved bot ``external`` (manual trades, other tools, ambiguity).

An operator's manual trade (``execType=Trade`` with no link id of ours) is never given
to a holder by rule 2: only the exchange's own executions are, because only those are
caused by a position rather than by somebody's order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, Inexact, Rounded
from enum import StrEnum

from core.fills import Execution
from core.ids import EXTERNAL_BOT, AccountName, BotCode, BotId
from core.link_ids import LinkId
from core.link_ids import decode as decode_link_id


class Rule(StrEnum):
    """The rule that gave a row its bot (``trading.fills/funding.attribution``)."""

    LINK_ID = "link_id"
    BOUND_ACCOUNT = "bound_account"
    #: The one bot holding the symbol on the account as of the execution.
    SOLE_HOLDER = "sole_holder"
    #: One bot's share of a funding payment, or of an exchange-generated fill (ADL,
    #: liquidation, delivery), on a symbol several bots held.
    PRO_RATA = "pro_rata"
    #: Decided by the holders, none of whom could take it (nobody held the symbol; or
    #: funding on positions that net to zero; or a fill that reduces a side nobody
    #: held): the fallback.
    NO_HOLDER = "no_holder"
    EXTERNAL = "external"
    #: An operator gave the fill to its bot (``alpha fills assign``): never re-evaluated.
    OPERATOR = "operator"


#: Rows decided by the holders: re-evaluated when a fill before them arrives late.
HOLDER_RULES = frozenset({Rule.SOLE_HOLDER, Rule.PRO_RATA, Rule.NO_HOLDER})

#: A funding share is rounded toward zero to this many decimals at least (USDT's 8), or
#: to the exchange amount's own scale when that is finer.
FUNDING_SHARE_DIGITS = 8
#: Scaling by powers of ten must never round (the default context keeps 28 digits).
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[Inexact, Rounded])


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
    """Attributes executions given the registered bots (rules 1, 3 and 4)."""

    def __init__(self, bots: Iterable[BotRecord]) -> None:
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

    def bound_bot(self, account: AccountName) -> BotId | None:
        return self._bound.get(account)

    def fallback(self, account: AccountName) -> BotId:
        """Who takes what no link id and no holder claims: the bound bot, else external."""
        return self._bound.get(account, EXTERNAL_BOT)

    def attribute_order(self, account: AccountName, order_link_id: str) -> Attribution:
        """An order's bot: rules 1, 3 and 4 (an order is never exchange-generated)."""
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
        """The registry's attribution; :attr:`Rule.NO_HOLDER` (provisionally the
        fallback) when the holders decide, which only the ledger can tell."""
        by_order = self.attribute_order(execution.account, execution.order_link_id)
        by_position = execution.is_funding or execution.exchange_generated
        if by_position and by_order.rule is not Rule.LINK_ID:
            return Attribution(self.fallback(execution.account), Rule.NO_HOLDER, by_order.link)
        return by_order


# --- the holder rule (rule 2), given the positions as of the execution ----------------


def by_holders(holdings: Mapping[BotId, Decimal], fallback: BotId) -> tuple[BotId, Rule]:
    """An exchange-generated execution's bot, given each bot's signed quantity in the
    symbol on the account just before it: the sole holder, else ``fallback``."""
    holders = [bot for bot, qty in holdings.items() if qty]
    if len(holders) == 1:
        return holders[0], Rule.SOLE_HOLDER
    return fallback, Rule.NO_HOLDER


def split_funding(
    amount: Decimal, holdings: Mapping[BotId, Decimal], fallback: BotId
) -> list[tuple[BotId, Decimal, Rule]]:
    """A funding payment's shares ``(bot, amount, rule)``, sorted by bot id; they sum
    exactly to ``amount``.

    One holder takes all of it. Several holders share it in proportion to their signed
    quantities: ``amount × qty / Σ qty``, which is what each bot's own position would
    have paid (Bybit charges the net position, and the net is the sum; a bot short
    against the others' longs receives what they pay on its part). Each share is rounded
    toward zero to ``FUNDING_SHARE_DIGITS`` decimals (or the amount's own scale if finer)
    and the remainder goes to the largest holder (largest ``|qty|``, ties to the
    smallest bot id). Nobody holding, or positions netting to zero (no funding is due on
    a flat net position, so there is no proportion to apply): all to ``fallback``.
    """
    held = {bot: qty for bot, qty in holdings.items() if qty}
    if not held:
        return [(fallback, amount, Rule.NO_HOLDER)]
    if len(held) == 1:
        return [(next(iter(held)), amount, Rule.SOLE_HOLDER)]
    digits = max(FUNDING_SHARE_DIGITS, -_exponent(amount))
    qty_digits = max(0, *(-_exponent(q) for q in held.values()))
    total = int(amount.scaleb(digits, _EXACT))  # an integer: digits ≥ the amount's scale
    weights = {bot: int(qty.scaleb(qty_digits, _EXACT)) for bot, qty in held.items()}
    net = sum(weights.values())
    if not net:
        return [(fallback, amount, Rule.NO_HOLDER)]
    shares = {bot: _truncated_quotient(total * weight, net) for bot, weight in weights.items()}
    largest = min(held, key=lambda bot: (-abs(held[bot]), str(bot)))
    shares[largest] += total - sum(shares.values())
    return [
        (bot, Decimal(shares[bot]).scaleb(-digits, _EXACT), Rule.PRO_RATA)
        for bot in sorted(shares, key=str)
    ]


@dataclass(frozen=True, slots=True)
class FillShare:
    """One bot's part of an exchange-generated fill (a ``trading.fills`` row)."""

    bot_id: BotId
    qty: Decimal
    value: Decimal
    fee: Decimal
    rule: Rule


def split_fill(
    side: str,
    qty: Decimal,
    value: Decimal,
    fee: Decimal,
    holdings: Mapping[BotId, Decimal],
    fallback: BotId,
) -> list[FillShare]:
    """An exchange-generated fill's shares (ADL, liquidation, delivery), sorted by bot id;
    their quantities, values and fees sum exactly to the exchange's.

    One holder takes all of it (:func:`by_holders`). Several holders: the fill belongs to
    those on the side it reduces — a ``Sell`` closes longs, a ``Buy`` closes shorts —
    in proportion to the size of their positions just before it:

    * the quantity is cut in whole **lots**: the largest power of ten that divides the
      fill's quantity and every such position. Bybit's quantities are multiples of the
      instrument's ``qtyStep`` (a power of ten), so a lot is a multiple of it: every
      share is a quantity the bot can close with an order. The listener needs no
      instrument data, and the answer is a function of the ledger alone.
    * Each holder gets ``⌊lots × position / Σ positions⌋`` lots; the lots left over go
      one each to the largest remainders, ties to the smallest bot id (largest
      remainder method: the parts sum exactly to the fill).
    * The value and the fee follow each share's quantity, rounded toward zero to
      ``FUNDING_SHARE_DIGITS`` decimals (or the amount's own scale if finer), the
      remainder to the largest share (ties to the smallest bot id), as for funding.

    A holder whose share rounds to zero lots gets no row. Nobody on that side (or a
    zero quantity): all to ``fallback``, as before the split existed.
    """
    bot, rule = by_holders(holdings, fallback)
    reduced = {b: abs(q) for b, q in holdings.items() if q and (q > 0) == (side == "Sell")}
    if rule is Rule.SOLE_HOLDER or not reduced or not qty:
        if rule is Rule.NO_HOLDER:
            bot = fallback
        return [FillShare(bot, qty, value, fee, rule)]
    lot = min(_lot_exponent(x) for x in (qty, *reduced.values()))
    lots = int(qty.scaleb(-lot, _EXACT))
    weights = {b: int(q.scaleb(-lot, _EXACT)) for b, q in reduced.items()}
    whole = sum(weights.values())
    parts = {b: lots * w // whole for b, w in weights.items()}
    left = lots - sum(parts.values())
    by_remainder = sorted(weights, key=lambda b: (-(lots * weights[b] % whole), str(b)))
    for b in by_remainder[:left]:
        parts[b] += 1
    quantities = {b: Decimal(n).scaleb(lot, _EXACT) for b, n in parts.items() if n}
    values = _in_proportion(value, quantities)
    fees = _in_proportion(fee, quantities)
    return [
        FillShare(b, quantities[b], values[b], fees[b], Rule.PRO_RATA)
        for b in sorted(quantities, key=str)
    ]


def _in_proportion(amount: Decimal, weights: Mapping[BotId, Decimal]) -> dict[BotId, Decimal]:
    """``amount`` cut in proportion to ``weights`` (positive), each part rounded toward
    zero to ``FUNDING_SHARE_DIGITS`` decimals (or the amount's scale if finer), the
    remainder to the largest weight (ties to the smallest bot id): the parts sum exactly."""
    digits = max(FUNDING_SHARE_DIGITS, -_exponent(amount))
    w_digits = max(0, *(-_exponent(w) for w in weights.values()))
    total = int(amount.scaleb(digits, _EXACT))
    ints = {b: int(w.scaleb(w_digits, _EXACT)) for b, w in weights.items()}
    whole = sum(ints.values())
    parts = {b: _truncated_quotient(total * w, whole) for b, w in ints.items()}
    largest = min(weights, key=lambda b: (-weights[b], str(b)))
    parts[largest] += total - sum(parts.values())
    return {b: _tidy(n, digits, -_exponent(amount)) for b, n in parts.items()}


def _tidy(units: int, digits: int, scale: int) -> Decimal:
    """``units × 10^-digits`` without trailing zeros below ``scale`` decimals (a share
    of 300 reads 100, not 100.00000000; the value is the same)."""
    while digits > max(scale, 0) and units % 10 == 0:
        units //= 10
        digits -= 1
    return Decimal(units).scaleb(-digits, _EXACT)


def _lot_exponent(value: Decimal) -> int:
    """The exponent of the largest power of ten dividing ``value`` (≠ 0): 1200 → 2."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int), "a finite decimal"
    trailing = len(digits) - len(str(int("".join(map(str, digits)))).rstrip("0"))
    return exponent + trailing


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int), "a finite decimal"
    return exponent


def _truncated_quotient(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded toward zero, in integers (exact)."""
    quotient = abs(numerator) // abs(denominator)
    return -quotient if (numerator < 0) != (denominator < 0) else quotient
