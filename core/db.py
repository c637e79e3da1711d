"""The one place that builds database connections, per role.

Services connect through PgBouncer in transaction mode, so server-side prepared
statements are off (``prepare_threshold=None``: a prepared statement lives in one
server session, and the next transaction may run on another). Migrations, dumps and
bootstrap connect directly to PostgreSQL (``direct=True``).

Passwords travel in the conninfo string only as far as libpq; every error raised from
here has them masked, and :func:`masked_conninfo` is what logs may show.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from core import liveness
from core.config import Role, Settings
from core.errors import UserError

if TYPE_CHECKING:
    # SQLAlchemy is ~15 MB of a process that only uses it for migrations and reports; a
    # bot, the listener and trade sync connect with psycopg alone (docs/fleet.md).
    from sqlalchemy import Engine

MASK = "**********"
#: Default ``application_name``: the process, so ``pg_stat_activity`` tells services apart.
DEFAULT_APP = "alpha"
#: Give up quickly on an unreachable server; callers that want to wait retry themselves.
CONNECT_TIMEOUT = 10
#: A connection whose packets stop arriving (a partition: nothing resets it) fails within
#: seconds (``core.liveness``). Without it a query waited as long as TCP retransmits,
#: about 15 minutes, and the listener wrote nothing, not even its spool, meanwhile.
TCP_LIVENESS = {
    "keepalives": 1,
    "keepalives_idle": liveness.KEEPALIVE_IDLE_S,
    "keepalives_interval": liveness.KEEPALIVE_INTERVAL_S,
    "keepalives_count": liveness.KEEPALIVE_COUNT,
    "tcp_user_timeout": liveness.USER_TIMEOUT_MS,
}


#: What a refused connection says when waiting would not mend it: the server (or
#: PgBouncer) answered, and refused who is asking or what they asked for.
_NOT_MENDED_BY_WAITING = (
    "password authentication failed",
    "sasl authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "no such database",
    "no such user",
    "permission denied",
)


class DatabaseUnavailableError(UserError, psycopg.OperationalError):
    """A connection could not be made; the message names where, never with a password.

    Also a ``psycopg.OperationalError``, so a service's reconnect loop treats it like any
    other connection failure; the CLI prints it as one line. ``transient``: False when
    waiting would not mend it (a wrong password, an unknown database or role).
    """

    exit_code = 69  # EX_UNAVAILABLE

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


def _application_name() -> str:
    return os.environ.get("ALPHA_APP_NAME") or DEFAULT_APP


def credentials(settings: Settings, role: Role | None) -> tuple[str, str | None]:
    """``(user, password)`` for a role, or the admin login (``POSTGRES_USER``) for ``None``."""
    if role is None:
        secret = settings.postgres.password
        return settings.postgres.user, secret.get_secret_value() if secret else None
    role = Role(role)
    secret = settings.db_roles.password(role)
    return settings.db_roles.name(role), secret.get_secret_value() if secret else None


def conninfo(
    settings: Settings,
    role: Role | None,
    *,
    direct: bool = False,
    dbname: str | None = None,
    application_name: str | None = None,
) -> str:
    """A libpq conninfo for ``role`` (``None``: the admin login, always direct).

    Through PgBouncer unless ``direct``; the database is ``POSTGRES_DB`` unless given.
    The result contains the password: never log it (see :func:`masked_conninfo`).
    """
    user, password = credentials(settings, role)
    if direct or role is None:
        host, port = settings.postgres.host, settings.postgres.port
    else:
        host, port = settings.pgbouncer.host, settings.pgbouncer.port
    params: dict[str, Any] = {
        "host": host,
        "port": port,
        "dbname": dbname or settings.postgres.db,
        "user": user,
        "application_name": application_name or _application_name(),
        "connect_timeout": CONNECT_TIMEOUT,
        **TCP_LIVENESS,
    }
    if password:
        params["password"] = password
    return make_conninfo(**params)


def masked_conninfo(info: str) -> str:
    """The conninfo with its password replaced by a mask, safe for logs and errors."""
    params = conninfo_to_dict(info)
    if params.get("password"):
        params["password"] = MASK
    return make_conninfo("", **params)


def _mask_text(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def _describe(info: str) -> str:
    params = conninfo_to_dict(info)
    return f"{params.get('user')}@{params.get('host')}:{params.get('port')}/{params.get('dbname')}"


def _unavailable(info: str, exc: Exception) -> DatabaseUnavailableError:
    password = str(conninfo_to_dict(info).get("password") or "")
    # libpq messages span lines ("connection failed: …\nIs the server running…"): keep one.
    detail = " ".join(_mask_text(str(exc), password).split())
    transient = not any(words in detail.lower() for words in _NOT_MENDED_BY_WAITING)
    return DatabaseUnavailableError(
        f"cannot connect to PostgreSQL as {_describe(info)}: {detail}", transient=transient
    )


def connect(
    settings: Settings,
    role: Role | None,
    *,
    direct: bool = False,
    autocommit: bool = False,
    dbname: str | None = None,
    application_name: str | None = None,
) -> psycopg.Connection[Any]:
    """A psycopg connection as ``role``; through PgBouncer unless ``direct``."""
    info = conninfo(settings, role, direct=direct, dbname=dbname, application_name=application_name)
    pooled = not direct and role is not None
    try:
        conn = psycopg.connect(info, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise _unavailable(info, exc) from None
    if pooled:
        conn.prepare_threshold = None
    return conn


class KeptConnection:
    """One autocommit connection as ``role``, opened on first use and again after it
    failed, for a long-running process's small, frequent reads.

    A new connection through PgBouncer costs a SCRAM handshake (PBKDF2 on the client,
    about 3 ms of CPU here): a bot that opened one per bar for its order states spent
    more on handshakes than on deciding (docs/fleet.md). Autocommit, so that in
    PgBouncer's transaction mode the idle client holds no server connection; a read
    that needs several statements to agree opens ``conn.transaction()`` itself. One
    thread at a time: the connection is handed out under a lock."""

    def __init__(self, settings: Settings, role: Role) -> None:
        self._settings, self._role = settings, role
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                conn = self._conn = connect(self._settings, self._role, autocommit=True)
            try:
                yield conn
            except psycopg.Error:
                # Whatever state the failure left it in, the next read starts afresh.
                self._close_locked()
                raise

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


async def async_connect(
    settings: Settings,
    role: Role | None,
    *,
    direct: bool = False,
    autocommit: bool = False,
    dbname: str | None = None,
    application_name: str | None = None,
) -> psycopg.AsyncConnection[Any]:
    """The asyncio twin of :func:`connect`."""
    info = conninfo(settings, role, direct=direct, dbname=dbname, application_name=application_name)
    try:
        conn = await psycopg.AsyncConnection.connect(info, autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise _unavailable(info, exc) from None
    if not direct and role is not None:
        conn.prepare_threshold = None
    return conn


def admin_connect(settings: Settings, *, dbname: str = "postgres") -> psycopg.Connection[Any]:
    """The administrative login (``POSTGRES_USER``), direct, autocommit: bootstrap only."""
    return connect(settings, None, direct=True, autocommit=True, dbname=dbname)


def engine(
    settings: Settings,
    role: Role,
    *,
    direct: bool = False,
    dbname: str | None = None,
    application_name: str | None = None,
    **kwargs: Any,
) -> Engine:
    """A SQLAlchemy engine (psycopg 3 driver) as ``role``.

    Through PgBouncer the engine keeps no pool of its own (``NullPool``: PgBouncer is the
    pool, and a client-side pool would pin server connections) and never prepares.
    The URL's repr masks the password (SQLAlchemy renders it as ``***``).
    """
    from sqlalchemy import URL, create_engine
    from sqlalchemy.pool import NullPool

    user, password = credentials(settings, role)
    if direct:
        host, port = settings.postgres.host, settings.postgres.port
    else:
        host, port = settings.pgbouncer.host, settings.pgbouncer.port
    url = URL.create(
        "postgresql+psycopg",
        username=user,
        password=password,
        host=host,
        port=port,
        database=dbname or settings.postgres.db,
    )
    connect_args: dict[str, Any] = {
        "application_name": application_name or _application_name(),
        "connect_timeout": CONNECT_TIMEOUT,
        **TCP_LIVENESS,
    }
    if not direct:
        connect_args["prepare_threshold"] = None
        kwargs.setdefault("poolclass", NullPool)
    else:
        kwargs.setdefault("pool_pre_ping", True)
    connect_args.update(kwargs.pop("connect_args", {}))
    return create_engine(url, connect_args=connect_args, **kwargs)


# --- SCRAM ---------------------------------------------------------------------------

SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)
_B64 = r"[A-Za-z0-9+/=]+"
_SCRAM = re.compile(rf"^SCRAM-SHA-256\$(\d+):({_B64})\$({_B64}):({_B64})$")


def scram_verifier(
    password: str, *, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS
) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677).

    ``ALTER ROLE … PASSWORD '<verifier>'`` sets a password without the plain text ever
    reaching the server (or its statement log); PgBouncer's ``auth_file`` takes the
    same string. Passwords are used as UTF-8 without SASLprep, like most clients.
    """
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def scram_matches(verifier: str | None, password: str) -> bool:
    """Whether a stored verifier (``pg_authid.rolpassword``) is the one for ``password``."""
    match = _SCRAM.match(verifier or "")
    if not match:
        return False
    iterations, salt = int(match.group(1)), base64.b64decode(match.group(2))
    expected = scram_verifier(password, salt=salt, iterations=iterations)
    return hmac.compare_digest(expected, verifier or "")
