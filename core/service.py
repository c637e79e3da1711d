"""What every long-running service shares: logging, ``/healthz`` + ``/metrics``, signals.

A service's ``main`` is typically::

    settings = load_settings()
    configure_logging(settings.service, "listener", secrets=secret_values(settings))
    stop = threading.Event()
    install_signal_handlers(stop)
    with HealthServer.from_settings(settings.service, {"db": db_ok, "redis": redis_ok}):
        run(stop)            # returns when ``stop`` is set (SIGTERM/SIGINT)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import IO, Any, Self

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from pydantic import SecretStr

from core.config import ServiceSettings, Settings

MASK = "**********"
#: Secrets shorter than this are not redacted: masking "1" would shred every log line.
MIN_SECRET_LENGTH = 4
#: ``password=…`` in conninfo strings and URLs' ``user:password@``, whatever the value.
_PASSWORD_PATTERNS = (
    re.compile(r"(?i)(password\s*=\s*)('[^']*'|\S+)"),
    re.compile(r"(?i)(\w+://[^:/@\s]+:)([^@\s]+)(@)"),
)


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret's plain value (for the redaction filter)."""
    values: list[str] = []
    for attr in Settings.GROUPS:
        group = getattr(settings, attr)
        for field in type(group).model_fields:
            value = getattr(group, field)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
    for account in settings.accounts.values():
        values += [account.api_key.get_secret_value(), account.api_secret.get_secret_value()]
    return values


class RedactingFilter(logging.Filter):
    """Replaces configured secrets (and anything shaped like ``password=…``) in each record.

    The message is rendered here (``msg % args``) and so is the traceback, so a secret
    passed as an argument or carried in an exception message is caught too.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted(
            {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _PASSWORD_PATTERNS[0].sub(lambda m: m.group(1) + MASK, text)
        return _PASSWORD_PATTERNS[1].sub(lambda m: m.group(1) + MASK + m.group(3), text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        for key, value in _extra_fields(record).items():
            if isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "service",
}


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message, extras, exception."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_extra_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Readable in a terminal: ``12:00:01 INFO  listener  message  key=value``."""

    def __init__(self, service: str) -> None:
        super().__init__("%(asctime)s %(levelname)-7s " + service + " %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = _extra_fields(record)
        if extras:
            first, sep, rest = text.partition("\n")
            pairs = " ".join(f"{k}={v}" for k, v in extras.items())
            text = f"{first}  {pairs}{sep}{rest}"
        return text


def configure_logging(
    service_settings: ServiceSettings,
    name: str,
    *,
    secrets: Iterable[str] = (),
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Route the root logger to ``stream`` (stderr) in the configured format, redacted.

    ``log_format=auto`` means JSON unless the stream is a terminal. Replaces handlers a
    previous call installed, so calling it twice does not double every line.
    """
    stream = stream if stream is not None else sys.stderr
    fmt = service_settings.log_format
    if fmt == "auto":
        fmt = "text" if getattr(stream, "isatty", lambda: False)() else "json"
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(secrets))
    handler.setFormatter(JsonFormatter(name) if fmt == "json" else TextFormatter(name))
    handler._alpha = True  # type: ignore[attr-defined]  # marks ours for replacement
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_alpha", False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(service_settings.log_level)
    # Libraries that narrate every request at INFO drown the service's own lines.
    for noisy in ("httpx", "urllib3", "apscheduler.executors.default", "websocket"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return handler


# --- /healthz and /metrics -----------------------------------------------------------

Check = Callable[[], bool | str]


#: The last exception logged per check, so a probe every few seconds logs a failure once.
_LOGGED: dict[int, str] = {}


def run_check(check: Check) -> tuple[bool, str]:
    """``(ok, detail)``. ``True`` passes; ``False`` fails; a string is a failure reason,
    except ``"ok"``; an exception fails with its type only.

    An exception's message is logged (once while it repeats), never answered: it names
    roles, hosts, ports and databases (``cannot connect to PostgreSQL as role@host/db``),
    and ``/healthz`` answers anyone who can reach the port."""
    try:
        result = check()
    except Exception as exc:  # a broken check is a failing check, not a dead endpoint
        message = f"{type(exc).__name__}: {exc}"
        if _LOGGED.get(id(check)) != message:
            _LOGGED[id(check)] = message
            logging.getLogger("alpha.health").warning("health check failed: %s", message)
        return False, f"{type(exc).__name__} (the reason is in the service's log)"
    _LOGGED.pop(id(check), None)
    if result is True:
        return True, "ok"
    if result is False or result is None:
        return False, "failed"
    text = str(result)
    return text == "ok", text


def _info(provide: Callable[[], Any]) -> Any:
    try:
        return provide()
    except Exception as exc:  # as a check: the type only, the message may name hosts
        logging.getLogger("alpha.health").warning("health info failed: %s: %s",
                                                  type(exc).__name__, exc)  # fmt: skip
        return {"error": f"{type(exc).__name__} (the reason is in the service's log)"}


class HealthServer:
    """``/healthz`` (200 when every check passes, else 503; JSON per check) and
    ``/metrics`` (Prometheus text), served from a daemon thread."""

    def __init__(
        self,
        host: str,
        port: int,
        checks: Mapping[str, Check],
        *,
        registry: CollectorRegistry = REGISTRY,
        redact: Callable[[str], str] | None = None,
        info: Mapping[str, Callable[[], Any]] | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.checks = dict(checks)
        #: State shown under ``"info"`` that never fails the check (a bot whose entries
        #: wait on drift is alive); a provider that raises shows its exception's type.
        self.info = dict(info or {})
        self.registry = registry
        self._redact = redact or RedactingFilter().redact
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_settings(cls, service: ServiceSettings, checks: Mapping[str, Check]) -> Self:
        return cls(service.http_host, service.http_port, checks)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("HealthServer not started")
        return int(self._server.server_address[1])

    def health(self) -> tuple[bool, dict[str, Any]]:
        results = {name: run_check(check) for name, check in self.checks.items()}
        ok = all(passed for passed, _ in results.values())
        body = {
            "status": "ok" if ok else "failing",
            "checks": {
                name: {"ok": passed, "detail": self._redact(detail)}
                for name, (passed, detail) in results.items()
            },
        }
        if self.info:
            body["info"] = {name: _info(provide) for name, provide in self.info.items()}
        return ok, body

    def start(self) -> Self:
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    ok, body = server_self.health()
                    payload = json.dumps(body).encode()
                    self._reply(200 if ok else 503, "application/json", payload)
                elif path == "/metrics":
                    self._reply(200, CONTENT_TYPE_LATEST, generate_latest(server_self.registry))
                else:
                    self._reply(404, "text/plain", b"not found\n")

            def _reply(self, status: int, ctype: str, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # probes every few seconds would flood the service's log

        self._server = ThreadingHTTPServer((self.host, self._requested_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- graceful stop -------------------------------------------------------------------

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_signal_handlers(stop_event: threading.Event) -> None:
    """SIGTERM/SIGINT set ``stop_event`` (main thread only); a second signal exits hard,
    so an operator is never stuck with a service that will not stop."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop_event.is_set():
            os._exit(128 + signum)
        logging.getLogger("alpha.service").info("stopping on %s", signal.Signals(signum).name)
        stop_event.set()

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)


def run_until_signalled(stop_event: threading.Event, *, poll: float = 0.5) -> None:
    """Block until SIGTERM/SIGINT (or someone else sets ``stop_event``)."""
    install_signal_handlers(stop_event)
    # A timed wait: on some platforms a bare wait() is not interrupted by signals.
    while not stop_event.wait(poll):
        pass


def install_async_signal_handlers(stop: asyncio.Event) -> None:
    """The asyncio twin: SIGTERM/SIGINT set ``stop`` on the running loop."""
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
