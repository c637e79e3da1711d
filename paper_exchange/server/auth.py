"""Bybit V5 request signing, verified over the raw bytes exactly as received.

The receive window is judged against the exchange's clock, the simulated one that
``/v5/market/time`` reports and every ``execTime`` and candle comes from: Bybit's rule is
``server_time - recv_window <= timestamp < server_time + 1000`` with the time it
publishes, so a client that syncs to ``/v5/market/time`` must be accepted at any
``--speed`` and any start time. The host's wall clock is accepted as well, because it
is what the real exchange's clock is and what every client that does not sync signs
with (pybit among them): refusing it would refuse the project's own clients whenever the
simulated time is not the wall time (a frozen manual clock, a CSV market in the past).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping
from functools import lru_cache

from paper_exchange.engine.errors import ApiError
from paper_exchange.engine.models import Account

#: Bybit accepts ``server - recv_window <= timestamp < server + 1000``.
FUTURE_TOLERANCE_MS = 1000


@lru_cache(maxsize=256)
def _key(secret: str) -> bytes:
    return secret.encode()


def sign(secret: str, payload: str) -> str:
    # hmac.digest is OpenSSL's one-shot HMAC: no Python-level HMAC object per request
    return hmac.digest(_key(secret), payload.encode(), "sha256").hex()


def verify_rest(
    accounts: dict[str, Account],
    headers: Mapping[str, str],
    signed_payload: str,
    now_ms: int | None = None,
    sim_ms: int | None = None,
) -> Account:
    """The account of a signed REST request, or the documented ApiError."""
    api_key = headers.get("X-BAPI-API-KEY")
    if not api_key:
        raise ApiError(10003, "API key is invalid. (missing X-BAPI-API-KEY)")
    acct = accounts.get(api_key)
    if acct is None:
        raise ApiError(10003, "API key is invalid.")
    ts_raw = headers.get("X-BAPI-TIMESTAMP", "")
    recv_raw = headers.get("X-BAPI-RECV-WINDOW", "5000") or "5000"
    # isascii: str.isdigit() also takes "²" or "٣", which int() then refuses.
    if not (ts_raw.isascii() and ts_raw.isdigit() and recv_raw.isascii() and recv_raw.isdigit()):
        raise ApiError(10002, "invalid request, please check your timestamp and recv_window param")
    ts, recv_window = int(ts_raw), int(recv_raw)
    wall = int(time.time() * 1000) if now_ms is None else now_ms
    server = wall if sim_ms is None else sim_ms
    if not (_in_window(ts, server, recv_window) or _in_window(ts, wall, recv_window)):
        raise ApiError(
            10002,
            "invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{ts}],server_timestamp[{server}],recv_window[{recv_window}]",
        )
    given = headers.get("X-BAPI-SIGN", "")
    origin = f"{ts_raw}{api_key}{recv_raw}{signed_payload}"
    expected = sign(acct.api_secret, origin)
    # As bytes: compare_digest raises TypeError on a non-ASCII str, and the server keeps
    # undecodable header bytes as surrogates.
    if not hmac.compare_digest(given.lower().encode(errors="surrogateescape"), expected.encode()):
        raise ApiError(10004, f"error sign! origin_string[{origin}]")
    return acct


def _in_window(ts: int, server: int, recv_window: int) -> bool:
    return server - recv_window <= ts < server + FUTURE_TOLERANCE_MS


def verify_ws(
    accounts: dict[str, Account],
    args: object,
    now_ms: int | None = None,
    sim_ms: int | None = None,
) -> tuple[Account | None, str]:
    """(account, "") on success, or (None, reason) for ``op: auth``."""
    if not isinstance(args, list) or len(args) != 3:
        return None, "Params Error"
    api_key, expires, signature = args
    acct = accounts.get(api_key) if isinstance(api_key, str) else None
    if acct is None:
        return None, "Invalid apikey"
    if isinstance(expires, bool) or not isinstance(expires, int | str):
        return None, "Params Error"
    expires_s = str(expires)
    if not expires_s.isdigit():
        return None, "Params Error"
    wall = int(time.time() * 1000) if now_ms is None else now_ms
    # Expired only when past on both clocks, as for REST (see the module docstring).
    if int(expires_s) <= min(wall, wall if sim_ms is None else sim_ms):
        return None, "Params Error: request expired"
    expected = sign(acct.api_secret, f"GET/realtime{expires_s}")
    if not isinstance(signature, str) or not hmac.compare_digest(signature, expected):
        return None, "Invalid sign"
    return acct, ""
