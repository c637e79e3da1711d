"""The one place that builds Redis clients for a logical DB.

Every client decodes responses to ``str`` (keys and values are text: Decimal strings,
ISO times, JSON), and takes its address, ACL user and password from ``REDIS_*``. With
``REDIS_CLUSTER=true`` the same functions return Redis Cluster clients
(core/redis_cluster.py), which have only DB 0.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar, cast

import redis
import redis.asyncio
from redis.typing import EncodableT, FieldT

from core import redis_cluster
from core.config import Settings

_T = TypeVar("_T")

#: Fail fast on a dead server instead of hanging a service's loop; callers retry.
SOCKET_TIMEOUT = 10.0


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
    return redis.Redis(**kwargs)


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
    return redis.asyncio.Redis(**kwargs)


def infra_client(settings: Settings) -> redis.Redis:
    """A client for the infrastructure DB (``REDIS_INFRA_DB``; 0 on a cluster)."""
    return redis_client(settings, settings.redis.infra_db)


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
