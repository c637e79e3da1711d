"""The one place that builds Redis clients for a logical DB.

Every client decodes responses to ``str`` (keys and values are text: Decimal strings,
ISO times, JSON), and takes its address, ACL user and password from ``REDIS_*``. With
``REDIS_CLUSTER=true`` the same functions return Redis Cluster clients
(core/redis_cluster.py), which have only DB 0.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, cast

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import AuthenticationError, AuthorizationError, ClusterDownError
from redis.retry import Retry
from redis.typing import EncodableT, FieldT

from core import liveness, redis_cluster
from core.config import Settings

_T = TypeVar("_T")

log = logging.getLogger(__name__)

#: Fail fast on a dead server instead of hanging a service's loop; callers retry.
SOCKET_TIMEOUT = 10.0

#: The connection's own liveness (``core.liveness``), for every client: trade sync, the
#: bots and the backup have no read timeout (a bot's stream read blocks on purpose), so
#: behind a partition this is what tells them. Set at the TCP level with redis-py's
#: ``socket_keepalive_options``, under Linux's names; a platform without one of them
#: (macOS has no ``TCP_USER_TIMEOUT``) keeps its own default for it.
KEEPALIVE_OPTIONS = {
    getattr(socket, name): value
    for name, value in (
        ("TCP_KEEPIDLE", liveness.KEEPALIVE_IDLE_S),
        ("TCP_KEEPINTVL", liveness.KEEPALIVE_INTERVAL_S),
        ("TCP_KEEPCNT", liveness.KEEPALIVE_COUNT),
        ("TCP_USER_TIMEOUT", liveness.USER_TIMEOUT_MS),
    )
    if hasattr(socket, name)
}


def _kwargs(settings: Settings, db: int | None) -> dict[str, Any]:
    cfg = settings.redis
    chosen = cfg.db if db is None else db
    if not 0 <= chosen <= 15:
        raise ValueError(f"redis db {chosen} out of range 0..15")
    if cfg.cluster:
        redis_cluster.check_db(chosen)
    return {
        "host": cfg.host,
        "port": cfg.port,
        # A cluster client refuses the argument even as 0: its one DB is implied.
        **({} if cfg.cluster else {"db": chosen}),
        # A credential provider, not ``password=``: redis-py puts a plain password in the
        # connection pool's repr, and reprs end up in logs and tracebacks.
        "credential_provider": (
            redis.UsernamePasswordCredentialProvider(
                username=cfg.username, password=cfg.password.get_secret_value()
            )
            if cfg.password
            else None
        ),
        "decode_responses": True,
        "socket_connect_timeout": SOCKET_TIMEOUT,
        "socket_keepalive": True,
        "socket_keepalive_options": KEEPALIVE_OPTIONS,
        "health_check_interval": 30,
    }


def redis_client(settings: Settings, db: int | None = None, **overrides: Any) -> redis.Redis:
    """A client for logical DB ``db`` (default ``REDIS_DB``).

    In cluster mode a ``RedisCluster`` (built on first use), typed as ``redis.Redis``:
    it answers the same single-key commands, pipelines and scripts; what it refuses
    (several keys of different slots in one command) no caller sends (docs/redis.md).
    """
    kwargs = {**_kwargs(settings, db), **overrides}
    if settings.redis.cluster:
        return cast(
            redis.Redis, redis_cluster.sync_cluster(kwargs, settings.redis.cluster_addresses())
        )
    kwargs.setdefault("retry", _DefaultRetry())
    # redis-py turns the arguments into its pool's; the pool is then rebuilt as a _Pool
    # with exactly those (a client must wait for Redis when taking a connection too).
    built = redis.Redis(**kwargs).connection_pool
    return redis.Redis(
        connection_pool=_Pool(
            connection_class=built.connection_class,
            max_connections=built.max_connections,
            **built.connection_kwargs,
        )
    )


def async_redis_client(
    settings: Settings, db: int | None = None, **overrides: Any
) -> redis.asyncio.Redis:
    """The asyncio twin of :func:`redis_client`."""
    kwargs = {**_kwargs(settings, db), **overrides}
    if settings.redis.cluster:
        return cast(
            redis.asyncio.Redis,
            redis_cluster.async_cluster(kwargs, settings.redis.cluster_addresses()),
        )
    kwargs.setdefault("retry", _AsyncDefaultRetry())
    return redis.asyncio.Redis(**kwargs)


def infra_client(settings: Settings) -> redis.Redis:
    """A client for the infrastructure DB (``REDIS_INFRA_DB``; 0 on a cluster)."""
    return redis_client(settings, settings.redis.infra_db)


# --- what a command does when its connection fails (``retry=``) --------------------------
#
# redis-py's own default, three more tries with a growing random pause (up to 14 s in
# all), suits no caller here: it is too slow for the listener, which must go on writing
# the ledger without Redis, and too short for a bot, which cannot decide without it.


def fail_fast() -> Retry:
    """One more try at once, then the error: for a caller with its own way through an
    outage (the listener writes the ledger on and puts Redis right afterwards)."""
    return Retry(NoBackoff(), 1)


def no_retry() -> Retry:
    """The error at the first failure: for a reader whose own loop tries again."""
    return Retry(NoBackoff(), 0)


#: What no retry mends. redis-py counts them as connection errors: with no password, the
#: first command's ``NOAUTH`` was retried three times with growing pauses (about 7 s
#: before a service missing ``REDIS_PASSWORD`` said so).
_NEVER_RETRIED = (AuthenticationError, AuthorizationError)


class _DefaultRetry(Retry):
    """redis-py's default (three more tries, growing random pauses), except for bad
    credentials and missing rights: those fail at once. Every client without a
    ``retry=`` of its own gets it."""

    def __init__(self) -> None:
        super().__init__(ExponentialWithJitterBackoff(base=1, cap=10), 3)

    def call_with_retry(self, do: Callable[[], _T], fail: Callable[[Exception], Any]) -> _T:
        def failed(error: Exception) -> Any:
            answer = fail(error)  # redis-py's own handling first (it drops the connection)
            if isinstance(error, _NEVER_RETRIED):
                raise error
            return answer

        return super().call_with_retry(do, failed)


class _AsyncDefaultRetry(AsyncRetry):
    """:class:`_DefaultRetry` for the asyncio clients."""

    def __init__(self) -> None:
        super().__init__(ExponentialWithJitterBackoff(base=1, cap=10), 3)

    async def call_with_retry(
        self, do: Callable[[], Awaitable[_T]], fail: Callable[[redis.RedisError], Any]
    ) -> _T:
        async def failed(error: redis.RedisError) -> Any:
            answer = await fail(error)
            if isinstance(error, _NEVER_RETRIED):
                raise error
            return answer

        return await super().call_with_retry(do, failed)


#: What :class:`UntilRedisAnswers` waits on. A timeout is among them because the clients
#: it serves have no read timeout: theirs is a connect that timed out (nothing sent) or
#: a connection the kernel gave up on (``KEEPALIVE_OPTIONS``), both an unreachable Redis.
_WAITED_ON: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterDownError,
)


class UntilRedisAnswers(Retry):
    """Sends a command whose connection failed again, once a second, until Redis answers
    or ``give_up`` is set (then the error is raised): for a caller that cannot go on
    without Redis, such as a bot's decision, which reads its position there before it
    acts. Waiting where the call failed is what makes this safe: the decision goes on
    from that call, and nothing before it (an order already sent) is done twice.

    Retried: a refused, reset or closed connection, a connect that timed out or a
    connection the kernel gave up on (behind a partition that drops packets), and a
    Redis still loading its data after a restart. Not retried: a wrong password or a
    missing right (waiting would not mend them). Only for a client without a read
    timeout (``socket_timeout``), so that a timeout means Redis is out of reach, never a
    slow reply. A command whose connection broke before its reply may have
    run, and is then run twice: a bot's writes are idempotent but for its appends (an
    alert, a reply to a command), which can then come twice; the one write whose repeat
    would matter recognises it (bots/runtime/fills.py).

    On a cluster, a cluster without a primary for some slots (``CLUSTERDOWN``, while a
    replica takes over) is waited on too.

    One warning when an outage starts and one line when it ends, however many calls
    waited.
    """

    def __init__(self, who: str, give_up: threading.Event, *, every: float = 1.0) -> None:
        super().__init__(NoBackoff(), -1, _WAITED_ON)
        self._who = who
        self._give_up = give_up
        self._every = every
        self._down = False  # an outage under way, seen by some call
        self._lock = threading.Lock()  # so two calls failing at once warn once

    def __deepcopy__(self, memo: dict[int, Any]) -> UntilRedisAnswers:
        # Every connection of a pool copies its retry; this one must stay shared (one
        # outage, one warning, one stop event).
        return self

    def call_with_retry(self, do: Callable[[], _T], fail: Callable[[Exception], Any]) -> _T:
        while True:
            try:
                answer = do()
            except (AuthenticationError, AuthorizationError):
                raise
            except _WAITED_ON as error:
                fail(error)
                if self._give_up.is_set():
                    raise
                if self._outage(started=True):
                    log.warning("%s: Redis unreachable (%s); waiting for it", self._who, error)
                self._give_up.wait(self._every)
                continue
            if self._down and self._outage(started=False):
                log.info("%s: Redis answers again; going on", self._who)
            return answer

    def _outage(self, *, started: bool) -> bool:
        """Records that an outage started (or ended); True for the call that changed it."""
        with self._lock:
            changed, self._down = self._down != started, started
        return changed


class _Pool(redis.ConnectionPool):
    """redis-py's pool, except that taking a connection waits for Redis when the
    connections' retry is :class:`UntilRedisAnswers`: redis-py connects (or reconnects)
    the connection it hands out before the command's retry begins, so a command sent
    while Redis is down would fail there, without waiting. Any other retry: unchanged."""

    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        retry = self.connection_kwargs.get("retry")
        take = super().get_connection
        if isinstance(retry, UntilRedisAnswers):
            return retry.call_with_retry(lambda: take(*args, **kwargs), lambda _error: None)
        return take(*args, **kwargs)


def wait_for_redis(client: redis.Redis, who: str, give_up: threading.Event) -> None:
    """From now on, ``client``'s commands and pipelines wait out an outage
    (:class:`UntilRedisAnswers`) rather than fail, on a standalone Redis or a cluster
    (``LazyCluster.wait_with``)."""
    wait = UntilRedisAnswers(who, give_up)
    if isinstance(client, redis_cluster.LazyCluster):
        client.wait_with(wait)
    elif not redis_cluster.is_cluster_client(client):
        client.set_retry(wait)


def sync_reply(value: Awaitable[_T] | _T) -> _T:
    """A ``redis.Redis`` reply, typed as what it is: never an awaitable.

    redis-py annotates each command once for its sync and asyncio clients alike, as
    ``Awaitable[Any] | Any``; this strips the ``Awaitable`` half. A no-op at run time.
    """
    return cast(_T, value)


def stream_fields(fields: Mapping[str, str]) -> dict[FieldT, EncodableT]:
    """``fields`` as ``XADD`` takes them: redis-py asks for a ``dict`` of its wide key and
    value unions, which a ``dict[str, str]`` is not (dicts are invariant). A no-op at run
    time."""
    return cast(dict[FieldT, EncodableT], fields)


def _already_exists(exc: redis.ResponseError) -> bool:
    return "BUSYGROUP" in str(exc)


def group_lost(exc: BaseException) -> bool:
    """A consumer group read failed because the stream or its group is gone: Redis lost
    its data (restarted without it, failed over to a replica behind, was flushed), or
    the key was deleted under a blocked read (``UNBLOCKED``). A reader then creates the
    group again from ``"0"``: every entry the stream holds now came after the loss (the
    listener appends again what it committed since), and none was delivered yet."""
    text = str(exc)
    return isinstance(exc, redis.ResponseError) and (
        text.startswith("NOGROUP") or text.startswith("UNBLOCKED")
    )


def ensure_group(client: redis.Redis, stream: str, group: str, *, start: str) -> None:
    """Creates consumer group ``group`` on ``stream`` (and the stream) from ``start`` —
    ``"0"`` to read what is already there, ``"$"`` for what comes next — or keeps the
    group that exists: it remembers its place, and creating it again must not reset it."""
    try:
        client.xgroup_create(stream, group, id=start, mkstream=True)
    except redis.ResponseError as exc:
        if not _already_exists(exc):
            raise


async def ensure_group_async(
    client: redis.asyncio.Redis, stream: str, group: str, *, start: str
) -> None:
    """The asyncio twin of :func:`ensure_group`."""
    try:
        await client.xgroup_create(stream, group, id=start, mkstream=True)
    except redis.ResponseError as exc:
        if not _already_exists(exc):
            raise
