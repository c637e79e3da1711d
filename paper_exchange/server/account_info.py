"""The account endpoints a client reads once on start, in Bybit's documented shapes.

ccxt's Bybit client, for one, asks ``GET /v5/asset/coin/query-info`` (its currencies),
``GET /v5/user/query-api`` and ``GET /v5/account/info`` (is this a unified account?)
before it does anything else, and stops if one of them is missing; its
``fetch_trading_fee(s)`` reads ``GET /v5/account/fee-rate``. Every answer is
built from the exchange's state: the coins are the ones in the wallet (USDT), the key
is the account's own with read-write trading permissions, and the account is a unified
trading account in cross margin, which is how the engine settles. Field names and
JSON types follow Bybit's V5 pages "Get Coin Info", "Get API Key Information" and
"Get Account Info" and "Get Fee Rate"; nothing here changes state.
"""

from __future__ import annotations

from datetime import UTC, datetime

from paper_exchange.engine.errors import params_error
from paper_exchange.engine.models import Account
from paper_exchange.engine.numbers import fmt
from paper_exchange.engine.state import other_category
from paper_exchange.server.host import Host

#: The wallet holds USDT only (``engine/views.py``, ``wallet_view``).
WALLET_COINS = ("USDT",)
#: First user id; an account's is this plus its position among the accounts.
_FIRST_UID = 100_001
#: ``unifiedMarginStatus`` 5: unified trading account 2.0 (Bybit's enum page).
UTA_2 = 5


def _uid(ex: Host, acct: Account) -> int:
    return _FIRST_UID + list(ex.engine.accounts_by_name).index(acct.name)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def coin_info(ex: Host, acct: Account | None, p: dict[str, object]) -> object:
    """``GET /v5/asset/coin/query-info``: a paper wallet has no chains to deposit or
    withdraw on, so each coin's ``chains`` is empty."""
    wanted = p.get("coin")
    rows = [
        {"name": coin, "coin": coin, "remainAmount": "0", "chains": []}
        for coin in WALLET_COINS
        if not wanted or wanted == coin
    ]
    return {"rows": rows}


def api_key_info(ex: Host, acct: Account | None, p: dict[str, object]) -> object:
    """``GET /v5/user/query-api``: the calling key; read-write, no IP bound, no expiry."""
    assert acct is not None
    uid = _uid(ex, acct)
    return {
        "id": str(uid),
        "note": f"paper account {acct.name}",
        "apiKey": acct.api_key,
        "readOnly": 0,
        "secret": "",
        "permissions": {
            "ContractTrade": ["Order", "Position"],
            "Spot": [],
            "Wallet": [],
            "Options": [],
            "Derivatives": ["DerivativesTrade"],
            "CopyTrading": [],
            "BlockTrade": [],
            "Exchange": [],
            "NFT": [],
            "Affiliate": [],
            "Earn": [],
            "FiatP2P": [],
            "FiatBitPay": [],
            "FiatConvertBroker": [],
            "BitCard": [],
            "ByXPost": [],
        },
        "ips": ["*"],
        "type": 1,
        "deadlineDay": -2,
        "expiredAt": _iso(0),
        "createdAt": _iso(ex.started_ms),
        "unified": 0,
        "uta": 1,
        "userID": uid,
        "inviterID": 0,
        "vipLevel": "No VIP",
        "mktMakerLevel": "0",
        "affiliateID": 0,
        "rsaPublicKey": "",
        "isMaster": True,
        "parentUid": "0",
        "kycLevel": "LEVEL_DEFAULT",
        "kycRegion": "",
        "userIDInt64": str(uid),
        "inviterIDInt64": "0",
        "affiliateIDInt64": "0",
    }


def account_info(ex: Host, acct: Account | None, p: dict[str, object]) -> object:
    """``GET /v5/account/info``: unified account, cross margin (``REGULAR_MARGIN``)
    unless ``account/set-margin-mode`` made it isolated."""
    return {
        "unifiedMarginStatus": UTA_2,
        "marginMode": acct.margin_mode if acct is not None else "REGULAR_MARGIN",
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
        "updatedTime": str(ex.started_ms),
        "dcpStatus": "OFF",
        "timeWindow": 0,
        "smpGroup": 0,
    }


def smp_group(ex: Host, acct: Account | None, p: dict[str, object]) -> object:
    """``GET /v5/account/smp-group``: no paper account is in an SMP trade group (an
    institutional feature), so self-match prevention works per account (per UID), and
    Bybit's answer for that is 0 (``engine/selfmatch.py``)."""
    return {"smpGroup": 0}


def fee_rate(ex: Host, acct: Account | None, p: dict[str, object]) -> object:
    """``GET /v5/account/fee-rate``: the rates the engine charges, one row per linear
    symbol (or the one asked for). Derivatives rows carry no ``baseCoin`` and the
    result no ``category``; spot and option results do, and hold nothing here."""
    if other := other_category(p):
        return {"list": []} if other == "inverse" else {"category": other, "list": []}
    engine = ex.engine
    symbol = p.get("symbol")
    if symbol and symbol not in engine.instruments:
        raise params_error(f"symbol invalid: {symbol}")
    taker, maker = fmt(engine.taker_fee), fmt(engine.maker_fee)
    return {
        "list": [
            {"symbol": name, "takerFeeRate": taker, "makerFeeRate": maker}
            for name in engine.instruments
            if not symbol or name == symbol
        ]
    }
