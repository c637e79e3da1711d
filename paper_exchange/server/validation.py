"""JSON types of the POST bodies, checked as strictly as Bybit's gateway checks them.

Why: Bybit decodes a request body into typed fields before anything else looks at it,
so ``"qty": 0.01`` (a number where the documentation says string) or ``"reduceOnly":
"true"`` (a string where it says boolean) is refused with retCode 10001 "Request
parameter error." before the order is even considered. The engine's own parsers
(``engine/numbers.py``) are forgiving on purpose (they also read the query strings of
GET requests, where everything is text), so without this check a client could send a
wrong type for months on the paper exchange and fail on its first real order.

Only the JSON type is checked here. Values (enums, qty step, tick size, leverage range)
are the engine's business and stay there (``engine/entry.py``, ``engine/instruments.py``).
A JSON ``null`` counts as absent, as it does when a typed decoder meets it.

``--lenient`` (``ExchangeConfig.lenient``, ``running_exchange(lenient=True)``) turns
this check off; everything else stays as strict.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from paper_exchange.engine.errors import ApiError

log = logging.getLogger(__name__)

#: Bybit's answer to a field of the wrong JSON type (error codes page: 10001).
TYPE_ERROR = (10001, "Request parameter error.")

STRING, BOOLEAN, INTEGER = "string", "boolean", "integer"


def _fields(kind: str, names: Iterable[str]) -> dict[str, str]:
    return dict.fromkeys(names, kind)


#: Request parameters of each endpoint and their documented types (Bybit's V5 pages
#: "Place Order", "Amend Order", "Cancel Order", "Cancel All Orders", "Set Leverage",
#: "Set Trading Stop").
_CREATE_STRINGS = (
    "side", "orderType", "qty", "marketUnit", "price", "triggerPrice", "triggerBy",
    "orderIv", "timeInForce", "orderLinkId", "takeProfit", "stopLoss", "tpTriggerBy",
    "slTriggerBy", "smpType", "tpslMode", "tpLimitPrice", "slLimitPrice", "tpOrderType",
    "slOrderType", "orderFilter", "slippageToleranceType", "slippageTolerance",
    "bboSideType", "bboLevel",
)  # fmt: skip
_AMEND_STRINGS = (
    "orderId", "orderLinkId", "orderIv", "triggerPrice", "qty", "price", "tpslMode",
    "takeProfit", "stopLoss", "tpTriggerBy", "slTriggerBy", "triggerBy", "tpLimitPrice",
    "slLimitPrice",
)  # fmt: skip
_TRADING_STOP_STRINGS = (
    "tpslMode", "takeProfit", "stopLoss", "trailingStop", "tpTriggerBy", "slTriggerBy",
    "activePrice", "tpSize", "slSize", "tpLimitPrice", "slLimitPrice", "tpOrderType",
    "slOrderType",
)  # fmt: skip
_COMMON = _fields(STRING, ("category", "symbol"))
FIELD_TYPES: dict[str, dict[str, str]] = {
    "/v5/order/create": {
        **_COMMON,
        **_fields(STRING, _CREATE_STRINGS),
        **_fields(BOOLEAN, ("reduceOnly", "closeOnTrigger", "mmp", "rpiTakerAccess")),
        **_fields(INTEGER, ("positionIdx", "triggerDirection", "isLeverage")),
    },
    "/v5/order/amend": {**_COMMON, **_fields(STRING, _AMEND_STRINGS)},
    "/v5/order/cancel": {**_COMMON, **_fields(STRING, ("orderId", "orderLinkId", "orderFilter"))},
    "/v5/order/cancel-all": {
        **_COMMON,
        **_fields(STRING, ("baseCoin", "settleCoin", "orderFilter", "stopOrderType")),
    },
    "/v5/position/set-leverage": {**_COMMON, **_fields(STRING, ("buyLeverage", "sellLeverage"))},
    "/v5/position/trading-stop": {
        **_COMMON,
        **_fields(STRING, _TRADING_STOP_STRINGS),
        **_fields(INTEGER, ("positionIdx",)),
    },
}


def _json_type(value: object) -> str:
    if isinstance(value, bool):  # before int: True is an int to Python, not to JSON
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return STRING
    if isinstance(value, list):
        return "array"
    return "object"


def check_types(path: str, params: Mapping[str, object]) -> None:
    """Raise Bybit's 10001 if a documented field of ``path`` has the wrong JSON type.

    Unknown fields pass (Bybit ignores them); so do endpoints without a table here.
    """
    fields = FIELD_TYPES.get(path)
    if fields is None:
        return
    for name, value in params.items():
        want = fields.get(name)
        if want is None or value is None:
            continue
        got = _json_type(value)
        if got != want:
            # Bybit's message names no field; the log does, for whoever runs the exchange.
            log.info("paper exchange: %s refused: %s is a JSON %s, not a %s", path, name, got, want)
            raise ApiError(*TYPE_ERROR)
