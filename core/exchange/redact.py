"""Keep API keys, secrets and signatures out of pybit's and websocket-client's logs.

pybit logs request headers (``X-BAPI-API-KEY``, ``X-BAPI-SIGN``) at DEBUG when asked
to, and websocket-client's trace prints the auth frame (key, expiry, signature). We
never turn those on, but an operator may set ``ALPHA_LOG_LEVEL=DEBUG``: this filter
on the third-party loggers is the second lock. It replaces every configured secret
and anything shaped like a signature or an auth frame before a handler sees it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable

MASK = "**********"
THIRD_PARTY_LOGGERS = (
    "pybit",
    "pybit._http_manager",
    "pybit._websocket_stream",
    "pybit._websocket_trading",
    "pybit.unified_trading",
    "websocket",
)
_PATTERNS = (
    re.compile(r"(X-BAPI-(?:API-KEY|SIGN)['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+", re.IGNORECASE),
    re.compile(r"(\"op\":\s*\"auth\",\s*\"args\":\s*)\[[^\]]*\]"),
    re.compile(r"(api_(?:key|secret)['\"]?\s*[:=]\s*['\"]?)[^'\",\s}]+", re.IGNORECASE),
)


class SecretFilter(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets.update(s for s in secrets if s and len(s) >= 4)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            message = str(record.msg)
        clean = self.scrub(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks would print the exception's text again, unscrubbed.
            clean += f" [{type(record.exc_info[1]).__name__}]"
            record.exc_info = None
            record.exc_text = None
        record.msg, record.args = clean, None
        return True


FILTER = SecretFilter()
_installed = False


def install(secrets: Iterable[str] = ()) -> None:
    """Register secrets to mask and attach the filter to the third-party loggers (once)."""
    global _installed
    FILTER.add(secrets)
    if _installed:
        return
    for name in THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        logger.addFilter(FILTER)
        # Request/response dumps live at DEBUG; they are never worth their risk.
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)
    _installed = True
