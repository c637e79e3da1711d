"""One factory for pybit's ``HTTP`` and ``WebSocket``, for every ``BYBIT_ENV``.

pybit has no base-URL option (docs/bybit.md#pybit), so the paper exchange and the
``BYBIT_REST_URL`` / ``BYBIT_WS_URL`` overrides are applied at attribute level in two
small subclasses: ``endpoint`` after ``HTTP.__post_init__`` and the URL given to
``WebSocket._connect``. pybit's own files are never edited.

The subclasses also fix what an operator running real money needs fixed:

* numbers are sent as strings (``Decimal`` cannot be JSON-encoded and pybit only
  stringifies five fields; docs/bybit.md#rest-quirks);
* a 10006 with a past, duplicated or missing reset header no longer crashes pybit's
  retry with ``ValueError`` (docs/bybit.md#rest-quirks) — the sleep is clamped;
* "not modified" answers (110043 set-leverage, 34040 trading-stop) are returned, not
  raised;
* secrets never reach a log line (``redact.install``);
* a plain signed call skips requests' per-call machinery (``transport.LeanSession``).
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pybit import _helpers
from pybit.unified_trading import HTTP, WebSocket

from core.config import BybitEnv, Settings
from core.errors import ConfigError
from core.exchange import redact
from core.exchange.transport import LeanSession
from core.ids import AccountName

if TYPE_CHECKING:
    import requests

#: retCodes that only say "nothing changed": returned as a normal envelope.
log = logging.getLogger(__name__)
NOT_MODIFIED_CODES = frozenset({110043, 34040})
#: The paper exchange's default address (``alpha run paper-exchange``, one port).
PAPER_DEFAULT = "http://127.0.0.1:8480"

#: POST fields Bybit types as strings although they hold numbers (pybit casts only five).
_STRING_FIELDS = frozenset(
    {
        "qty", "price", "triggerPrice", "takeProfit", "stopLoss", "buyLeverage",
        "sellLeverage", "trailingStop", "activePrice", "tpSize", "slSize", "tpLimitPrice",
        "slLimitPrice", "basePrice", "marketUnit", "slippageTolerance",
    }
)  # fmt: skip
#: Longest we ever sleep inside pybit's 10006 retry; the caller's backoff takes over after.
_MAX_RATE_LIMIT_SLEEP = 10.0


@dataclass(frozen=True)
class Endpoints:
    """Where one environment lives. ``None`` means "pybit's own host for the env"."""

    env: BybitEnv
    rest: str | None
    ws: str | None

    @property
    def testnet(self) -> bool:
        return self.env is BybitEnv.TESTNET

    @property
    def demo(self) -> bool:
        return self.env is BybitEnv.DEMO


def endpoints(settings: Settings) -> Endpoints:
    """Resolve ``BYBIT_ENV`` plus the overrides into concrete bases."""
    bybit = settings.bybit
    rest, ws = bybit.rest_url, bybit.ws_url
    if bybit.allow_host and bybit.env is not BybitEnv.PAPER:
        log.warning(
            "BYBIT_ALLOW_HOST=%s: %s keys may be sent to a host that is not one of "
            "Bybit's own (REST %s, WebSocket %s)",
            bybit.allow_host, bybit.env, rest or "default", ws or "default",
        )  # fmt: skip
    if bybit.env is BybitEnv.PAPER:
        # The paper exchange serves REST and both WebSockets on one port, so one of the
        # two overrides is enough; with neither, its default address.
        rest = rest or (_http_from_ws(ws) if ws else PAPER_DEFAULT)
        ws = ws or _ws_from_http(rest)
    return Endpoints(env=bybit.env, rest=rest, ws=ws)


def _ws_from_http(url: str) -> str:
    return re.sub(r"^http", "ws", url)


def _http_from_ws(url: str) -> str:
    return re.sub(r"^ws", "http", url)


def _stringify(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Plain notation: str(Decimal('1E+1')) is '1E+1', which Bybit would reject.
        return format(value, "f")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(Decimal(str(value)), "f")
    return value


class AlphaHTTP(HTTP):  # type: ignore[misc]  # pybit ships no types: HTTP is Any
    """pybit ``HTTP`` with a base-URL override, string numbers and a safe 10006 retry."""

    client: requests.Session  # set by pybit's __post_init__; ours replaces it

    def __init__(self, *, base_url: str | None = None, **kwargs: Any) -> None:
        self._alpha_base = base_url
        super().__init__(**kwargs)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self._alpha_base:
            # Read by every endpoint method at call time (``f"{self.endpoint}{path}"``).
            self.endpoint = self._alpha_base
        lean = LeanSession()  # same headers as pybit's session; see core/exchange/transport.py
        lean.headers = self.client.headers
        self.client.close()
        self.client = lean
        _read_environment_once(self.client, self.endpoint)

    def __repr__(self) -> str:  # the dataclass repr would print api_key and api_secret
        return f"AlphaHTTP(endpoint={self.endpoint!r})"

    def _submit_request(
        self,
        method: str | None = None,
        path: str | None = None,
        query: Any = None,
        auth: bool = False,
    ) -> Any:
        if query:
            query = dict(query)
            for key, value in query.items():
                if isinstance(value, Decimal) or (method == "POST" and key in _STRING_FIELDS):
                    query[key] = _stringify(value)
        return super()._submit_request(method=method, path=path, query=query, auth=auth)

    def _handle_retryable_error(
        self, response: Any, error_code: int, error_msg: str, recv_window: int
    ) -> int:
        if error_code != 10006:
            # pybit is untyped: name the type its recv_window has.
            window: int = super()._handle_retryable_error(
                response, error_code, error_msg, recv_window
            )
            return window
        delay = _rate_limit_delay(response.headers.get("X-Bapi-Limit-Reset-Timestamp"))
        self.logger.warning(
            "rate limited (10006) on %s; sleeping %.0f ms", response.url.split("?")[0], delay * 1000
        )
        # Not core.retry: the exchange says when the limit resets, and waiting exactly that
        # long is better than any guess.
        time.sleep(delay)
        return recv_window


def _rate_limit_delay(header: str | None) -> float:
    """Seconds until the reset the header announces, clamped; a bad header means 2 s."""
    now: int = _helpers.generate_timestamp()  # pybit's epoch milliseconds, untyped
    try:
        reset = int(str(header).split(",")[0].strip())
    except ValueError:
        reset = now + 2000
    return min(max((reset - now) / 1000, 0.05), _MAX_RATE_LIMIT_SLEEP)


class AlphaWebSocket(WebSocket):  # type: ignore[misc]  # pybit ships no types: WebSocket is Any
    """pybit ``WebSocket`` whose URL template is re-based onto an override."""

    def __init__(self, channel_type: str, *, base_url: str | None = None, **kwargs: Any) -> None:
        self._alpha_base = base_url
        super().__init__(channel_type, **kwargs)

    def __repr__(self) -> str:
        return f"AlphaWebSocket(endpoint={getattr(self, 'endpoint', None)!r})"

    def _connect(self, url: str) -> None:
        # First call: 'wss://{SUBDOMAIN}.{DOMAIN}.{TLD}/v5/private'; reconnects pass the
        # already rewritten URL, on which the substitution is a no-op.
        if self._alpha_base:
            url = re.sub(r"^wss?://[^/]+", self._alpha_base, url)
        super()._connect(url)


def _read_environment_once(session: requests.Session, url: str) -> None:
    """Resolve the proxy variables (``HTTPS_PROXY``, ``NO_PROXY``…) for ``url`` now, once.

    With ``trust_env`` requests re-reads them on every call: for each order it walks
    ``os.environ`` three times (proxies, no-proxy bypass) and looks for a ``.netrc``,
    about 0.14 ms of CPU per call with 35 variables set, on a path whose whole loopback
    round trip is ~1.2 ms (docs/fleet.md#how-fast-a-bot-reacts). A service's environment
    does not change while it runs, and a session talks to one host, so the answer is the
    same every time. A ``.netrc`` entry is no longer read: Bybit's auth is signed
    headers, not Basic."""
    from requests.utils import get_environ_proxies, should_bypass_proxies

    scheme = urlsplit(url).scheme
    if not should_bypass_proxies(url, no_proxy=None):
        found = get_environ_proxies(url)
        proxy = found.get(scheme, found.get("all"))
        if proxy:
            session.proxies.setdefault(scheme, proxy)
    session.trust_env = False


def _credentials(settings: Settings, account: AccountName | str | None) -> dict[str, str]:
    if account is None:
        return {}
    creds = settings.account(account)  # ConfigError naming the variable when missing
    return {
        "api_key": creds.api_key.get_secret_value(),
        "api_secret": creds.api_secret.get_secret_value(),
    }


def make_http(
    settings: Settings,
    account: AccountName | str | None,
    *,
    retry_delay: float = 1.0,
    max_retries: int = 3,
    timeout: float = 10.0,
) -> AlphaHTTP:
    """A REST session for ``account`` (``None``: market data only, no keys).

    ``retry_delay`` is pybit's sleep before retrying 10002 (its default of 3 s stalls a
    job for long); 10006 sleeps until the reset header instead (clamped).
    """
    ep = endpoints(settings)
    creds = _credentials(settings, account)
    redact.install(creds.values())
    return AlphaHTTP(
        base_url=ep.rest,
        testnet=ep.testnet,
        demo=ep.demo,
        recv_window=settings.bybit.recv_window,
        retry_delay=retry_delay,
        max_retries=max_retries,
        timeout=timeout,
        ignore_codes=set(NOT_MODIFIED_CODES),
        log_requests=False,  # pybit's request log prints headers (key, signature)
        **creds,
    )


def make_websocket(
    settings: Settings,
    channel: str,
    account: AccountName | str | None = None,
    *,
    socket_class: type[AlphaWebSocket] = AlphaWebSocket,
    **kwargs: Any,
) -> AlphaWebSocket:
    """A raw pybit socket (``channel``: ``private`` or ``linear``…). Blocks until connected.

    Prefer :class:`core.exchange.watchdog.PrivateStream` / ``PublicStream``: a raw pybit
    socket dies silently on several failure modes (docs/bybit.md#pybit-sockets).
    """
    ep = endpoints(settings)
    if channel == "private":
        if account is None:
            raise ConfigError("a private WebSocket needs an account")
        creds = _credentials(settings, account)
        redact.install(creds.values())
        kwargs.update(creds)
    # Bybit serves no public data on stream-demo: demo bots read mainnet candles
    # (docs/bybit.md#hosts-and-environments).
    demo = ep.demo and channel == "private"
    kwargs.setdefault("trace_logging", False)  # process-global; would print auth frames
    return socket_class(channel, base_url=ep.ws, testnet=ep.testnet, demo=demo, **kwargs)
