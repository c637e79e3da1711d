# Run inside the listener's container by the rehearsal (`python - START_MS END_MS`), with
# its read keys and exchange address: every execution of every watched account from the
# exchange's REST history, and the open positions, as JSON. Deliberately independent of
# Alpha's own paginator (core/exchange/rest.py), which is part of what is checked: plain
# pybit, 7-day windows (Bybit's limit), cursor pages of 100.
import json
import os
import sys

from pybit.unified_trading import HTTP

WEEK_MS = 7 * 24 * 3600 * 1000
start_ms, end_ms = int(sys.argv[1]), int(sys.argv[2])
accounts = {"main": ("BYBIT_API_KEY", "BYBIT_API_SECRET")}
for name in os.environ:
    name = name.removesuffix("_FILE")  # a Swarm secret: the variable names its file
    if name.startswith("BYBIT_ACCOUNT_") and name.endswith("_API_KEY"):
        account = name[len("BYBIT_ACCOUNT_") : -len("_API_KEY")]
        accounts[account.lower()] = (name, name[: -len("KEY")] + "SECRET")


def setting(var):
    """The variable's value, or the content of the file its _FILE twin names."""
    if var in os.environ:
        return os.environ[var]
    with open(os.environ[var + "_FILE"], encoding="utf-8") as f:
        return f.read().strip()


def pages(call, params):
    cursor = ""
    while True:
        reply = call(**params, cursor=cursor) if cursor else call(**params)
        result = reply["result"]
        yield from result.get("list") or []
        cursor = result.get("nextPageCursor") or ""
        if not cursor:
            return


out = {}
for account, (key_var, secret_var) in accounts.items():
    http = HTTP(api_key=setting(key_var), api_secret=setting(secret_var), timeout=20)
    http.endpoint = os.environ["BYBIT_REST_URL"]
    executions = {}
    window = start_ms
    while window <= end_ms:
        upper = min(window + WEEK_MS - 1, end_ms)
        params = {"category": "linear", "startTime": window, "endTime": upper, "limit": 100}
        for item in pages(http.get_executions, params):
            executions[item["execId"]] = item  # a page edge may repeat one
        window = upper + 1
    positions = list(pages(http.get_positions, {"category": "linear", "settleCoin": "USDT"}))
    out[account] = {
        "executions": [
            {
                k: e.get(k)
                for k in (
                    "execId",
                    "orderId",
                    "orderLinkId",
                    "execType",
                    "symbol",
                    "side",
                    "execQty",
                    "execTime",
                    "execFee",
                )
            }
            for e in executions.values()
        ],
        "positions": [{k: p.get(k) for k in ("symbol", "side", "size")} for p in positions],
    }
print(json.dumps(out))
