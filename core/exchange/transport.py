"""pybit's ``requests.Session``, with the per-call machinery a signed REST call never uses
taken off the hot path.

pybit builds every call as ``session.prepare_request(requests.Request(...))`` then
``session.send(prepared, timeout=...)``. For one order that is about half a millisecond
of CPU on this project's machines, and most of it is requests' generality: the URL
re-parsed and IDNA-checked, cookie jars merged and extracted, hooks, redirects
resolved, settings merged, an adapter chosen, the response rebuilt. None of it applies
to Bybit's REST API: one host per session, authentication in signed headers, no
cookies, no redirects. With several bots on two cores that CPU is the queue a candle's
order waits in (docs/fleet.md#how-fast-a-bot-reacts).

:class:`LeanSession` is still a ``requests.Session``: pybit's code, its exception
handling and our retry code see the same types (a ``requests.Response``,
``requests.exceptions.ConnectionError``/``ReadTimeout``/``SSLError``). It prepares a
request by merging headers only, sends it with urllib3 (the pool requests itself sits
on) and wraps the answer in a ``requests.Response``. Whatever it does not handle goes
through requests unchanged: a proxy (``HTTPS_PROXY``), a body that is not text or
bytes, a session given cookies or auth.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import requests
import urllib3
from requests.exceptions import ConnectionError as RequestsConnectionError
from requests.exceptions import ConnectTimeout, ReadTimeout, SSLError
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.exceptions import SSLError as Urllib3SSLError


class LeanSession(requests.Session):
    """A ``requests.Session`` that sends plain signed calls straight through urllib3."""

    def __init__(self) -> None:
        super().__init__()
        # What requests' HTTPAdapter would use without REQUESTS_CA_BUNDLE (the session
        # never reads the environment: core.exchange.client sets trust_env off).
        self._pool = urllib3.PoolManager(
            num_pools=4, maxsize=4, cert_reqs="CERT_REQUIRED", ca_certs=requests.certs.where()
        )

    def _plain(self) -> bool:
        """True when nothing of requests' own handling is asked for."""
        return not (self.proxies or self.auth or self.cookies or self.hooks["response"])

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        body, url = request.data, request.url
        if (
            not self._plain() or request.files or request.json is not None or request.params
            or not isinstance(url, str)
        ):  # fmt: skip
            return super().prepare_request(request)
        encoded: bytes | None
        if isinstance(body, str):
            encoded = body.encode()
        elif isinstance(body, bytes):
            encoded = body
        elif not body:
            encoded = None
        else:
            return super().prepare_request(request)  # a form body: requests encodes it
        headers: CaseInsensitiveDict[str | bytes] = CaseInsensitiveDict(self.headers)
        headers.update(request.headers or {})
        if encoded is not None:
            headers["Content-Length"] = str(len(encoded))
        prepared = requests.PreparedRequest()
        prepared.method = (request.method or "GET").upper()
        prepared.url = url
        prepared.headers = headers
        prepared.body = encoded
        prepared.hooks = {"response": []}
        return prepared

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if not self._plain() or kwargs.get("stream") or request.url is None:
            return super().send(request, **kwargs)
        timeout = kwargs.get("timeout")
        started = time.perf_counter()
        try:
            raw = self._pool.urlopen(
                request.method or "GET",
                request.url,
                body=request.body,
                headers=dict(request.headers),
                retries=False,
                redirect=False,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
            )
        except NewConnectionError as exc:  # urllib3 makes it a ConnectTimeoutError; requests
            raise RequestsConnectionError(exc, request=request) from exc  # does not: nor do we
        except ConnectTimeoutError as exc:
            raise ConnectTimeout(exc, request=request) from exc
        except ReadTimeoutError as exc:
            raise ReadTimeout(exc, request=request) from exc
        except Urllib3SSLError as exc:
            raise SSLError(exc, request=request) from exc
        except (HTTPError, OSError) as exc:  # ProtocolError is an HTTPError
            raise RequestsConnectionError(exc, request=request) from exc
        response = requests.Response()
        response.status_code = raw.status
        response.reason = raw.reason or ""
        response.headers = CaseInsensitiveDict(raw.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response._content = raw.data
        response.url = request.url
        response.request = request
        response.elapsed = timedelta(seconds=time.perf_counter() - started)
        return response

    def close(self) -> None:
        self._pool.clear()
        super().close()
