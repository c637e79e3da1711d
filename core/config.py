"""The one configuration tree, read from the environment (and ``.env``).

Environment names are the ones operators know (README.md, "Configuration"): each group
below reads the variables that start with its prefix, e.g. ``PostgresSettings.port``
is ``POSTGRES_PORT``. Every secret can instead be given as ``<NAME>_FILE`` (a path
whose content is the secret, as Docker secrets are mounted). Secrets are
``SecretStr``: they never appear in a repr, a log line or an error message.

``load_settings()`` is the only entry point; it turns any validation failure into a
one-line :class:`~core.errors.ConfigError` naming the variable.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from core.errors import ConfigError
from core.ids import AccountName, BotId

ENV_FILE = ".env"


class _SecretFiles(PydanticBaseSettingsSource):
    """Reads ``<VAR>_FILE`` for every field: the file's content (stripped) is the value."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        prefix = self.config.get("env_prefix", "")
        values: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            var = f"{prefix}{name}".upper()
            path = os.environ.get(f"{var}_FILE")
            if not path:
                continue
            if os.environ.get(var):
                raise ConfigError(f"{var}: set either {var} or {var}_FILE, not both")
            try:
                values[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{var}_FILE: cannot read {path}: {exc.strerror}") from None
        return values


class _Group(BaseSettings):
    """A group of settings sharing one environment prefix."""

    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _SecretFiles(settings_cls), dotenv_settings

    @classmethod
    def env_name(cls, field: str) -> str:
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def _split_ids(value: object) -> object:
    """``"1, 2,3"`` → ``["1", "2", "3"]``; an empty string is an empty list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaInts = Annotated[list[int], NoDecode]


class PostgresSettings(_Group):
    """The PostgreSQL server itself (migrations, dumps and bootstrap connect here directly)."""

    model_config = SettingsConfigDict(env_prefix="POSTGRES_")
    host: str = "127.0.0.1"
    port: int = Field(5432, ge=1, le=65535)
    db: str = "alpha"
    #: An administrative (superuser) login, used only to bootstrap roles and databases.
    user: str = "postgres"
    password: SecretStr | None = None


class PgBouncerSettings(_Group):
    """Where services connect: PgBouncer in transaction mode in front of ``POSTGRES_DB``."""

    model_config = SettingsConfigDict(env_prefix="PGBOUNCER_")
    host: str = "127.0.0.1"
    port: int = Field(6432, ge=1, le=65535)


class Role(StrEnum):
    """The database roles (docs/database-roles.md); the value is the role's suffix."""

    OWNER = "owner"  # migrations, owns the schemas; connects directly
    LISTENER = "listener"  # the ledger's only writer
    APP = "app"  # the Telegram C2: bot states and the operator audit
    BOT = "bot"  # bots: read, and their heartbeat
    SYNC = "sync"  # trade sync: its runs, drift events, wallet snapshots
    BACKUP = "backup"  # backups: reads everything, creates its scratch databases
    COLLECTOR = "collector"  # alpha data collect: inserts closed candles, nothing else
    READONLY = "readonly"  # analytics, Grafana


class DatabaseRoleSettings(_Group):
    """Per-service role credentials: ``ALPHA_DB_<ROLE>_PASSWORD`` (or ``…_FILE``)."""

    model_config = SettingsConfigDict(env_prefix="ALPHA_DB_")
    #: Role names are ``{prefix}_{role}``; only tests change it, to isolate parallel runs.
    role_prefix: str = Field("alpha", pattern=r"^[a-z][a-z0-9_]{0,30}$")
    owner_password: SecretStr | None = None
    listener_password: SecretStr | None = None
    app_password: SecretStr | None = None
    bot_password: SecretStr | None = None
    sync_password: SecretStr | None = None
    backup_password: SecretStr | None = None
    collector_password: SecretStr | None = None
    readonly_password: SecretStr | None = None

    def name(self, role: Role) -> str:
        return f"{self.role_prefix}_{role.value}"

    def password(self, role: Role) -> SecretStr | None:
        secret: SecretStr | None = getattr(self, f"{role.value}_password")
        return secret


class RedisSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="REDIS_")
    host: str = "127.0.0.1"
    port: int = Field(6379, ge=1, le=65535)
    #: The default DB of a client built without one. A bot's keys are where its
    #: ``trading.bots.redis_db`` says (NULL: ``redis_keys.SHARED_DB``), whatever this is.
    db: int = Field(0, ge=0, le=15)
    #: This process's ACL user (``listener``, ``bot-<id>`` …, docs/redis.md#access);
    #: unset, the password is Redis's ``default`` user's (the operator's).
    username: str | None = None
    password: SecretStr | None = None
    #: The password of the ``claims`` ACL user: when set, ``alpha fills assign`` logs in
    #: as that user (append a claim request, pop its answer: core/redis_acl.py) rather
    #: than as this process's own user.
    claims_password: SecretStr | None = None
    #: Infrastructure keys: alerts, the kill flag, the listener's hand-over stream.
    #: Always 0 with ``cluster`` (the only DB a cluster has; infrastructure key names
    #: never collide with a bot's, docs/redis.md).
    infra_db: int = Field(15, ge=0, le=15)
    #: ``REDIS_CLUSTER=true``: ``host:port`` is a node of a Redis Cluster, and every
    #: client is a ``redis.cluster.RedisCluster`` (core/redis_cluster.py). DB 0 only:
    #: ``infra_db`` is forced to 0, bots with their own ``--redis-db`` are refused.
    cluster: bool = False
    #: ``REDIS_CLUSTER_NODES=host:port,host:port``: more nodes of the cluster to ask for
    #: its slot map besides ``REDIS_HOST``, so a process starting while that node is down
    #: still finds the cluster. Only with ``cluster``.
    cluster_nodes: Annotated[list[tuple[str, int]], NoDecode] = []

    @field_validator("cluster_nodes", mode="before")
    @classmethod
    def _node_addresses(cls, value: object, info: ValidationInfo) -> object:
        nodes = _split_ids(value)
        if nodes and not info.data.get("cluster"):
            raise ValueError("only with REDIS_CLUSTER=true (nodes of a Redis Cluster)")
        if not isinstance(nodes, list):
            return nodes  # pydantic refuses it in the field's own terms
        addresses = []
        for node in nodes:
            if isinstance(node, tuple):
                addresses.append(node)
                continue
            host, _, port = str(node).rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError("each node must be host:port, comma separated")
            addresses.append((host.strip("[]"), int(port)))  # [fd00::3]:7001 → fd00::3
        return addresses

    def cluster_addresses(self) -> list[tuple[str, int]]:
        """``REDIS_HOST``/``REDIS_PORT`` first, then ``REDIS_CLUSTER_NODES``."""
        return [(self.host, self.port), *self.cluster_nodes]

    @model_validator(mode="after")
    def _cluster_has_only_db_0(self) -> RedisSettings:
        if self.cluster and self.infra_db != 0:
            # Frozen: the validated instance is changed the one way pydantic allows.
            object.__setattr__(self, "infra_db", 0)
        return self


class BybitEnv(StrEnum):
    MAINNET = "mainnet"
    TESTNET = "testnet"
    DEMO = "demo"
    PAPER = "paper"


#: Bybit's own hosts per environment (docs/bybit.md#hosts-and-environments). With real
#: keys an override may name only these, over TLS, unless BYBIT_ALLOW_HOST names it.
PINNED_HOSTS: dict[BybitEnv, frozenset[str]] = {
    BybitEnv.MAINNET: frozenset(
        {"api.bybit.com", "api.bytick.com", "stream.bybit.com", "stream.bytick.com"}
    ),
    BybitEnv.TESTNET: frozenset({"api-testnet.bybit.com", "stream-testnet.bybit.com"}),
    # Demo trading's public streams are mainnet's.
    BybitEnv.DEMO: frozenset({"api-demo.bybit.com", "stream-demo.bybit.com", "stream.bybit.com"}),
}
_TLS = {"rest_url": "https", "ws_url": "wss"}


class BybitSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="BYBIT_")
    env: BybitEnv = BybitEnv.PAPER
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    #: One more host a real-money environment may use (a regional Bybit domain, say),
    #: named exactly; it is logged as a warning at every start.
    allow_host: str | None = None
    #: Overrides, e.g. the paper exchange: ``http://127.0.0.1:8480``.
    rest_url: str | None = None
    #: Override base for WebSockets, e.g. ``ws://127.0.0.1:8480`` (``/v5/private`` is appended).
    ws_url: str | None = None
    recv_window: int = Field(5000, ge=100, le=60000)

    @field_validator("rest_url", "ws_url")
    @classmethod
    def _pinned_host(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Real keys go only to Bybit's hosts of their environment, over TLS: an override
        elsewhere would hand the key and replayable signatures to whoever runs it."""
        if value is None:
            return value
        if not re.match(r"^(https?|wss?)://", value):
            raise ValueError("must start with http://, https://, ws:// or wss://")
        env = info.data.get("env", BybitEnv.PAPER)
        if env is not BybitEnv.PAPER:
            parts = urlsplit(value)
            scheme = _TLS[str(info.field_name)]
            if parts.scheme != scheme:
                raise ValueError(f"BYBIT_ENV={env} needs {scheme}://, not {parts.scheme}://")
            host = (parts.hostname or "").lower()
            allowed = (info.data.get("allow_host") or "").strip().lower()
            if host not in PINNED_HOSTS[env] and host != allowed:
                raise ValueError(
                    f"{host} is not one of Bybit's {env} hosts "
                    f"({', '.join(sorted(PINNED_HOSTS[env]))}); to use it with real keys "
                    f"anyway, set BYBIT_ALLOW_HOST={host}"
                )
        return value.rstrip("/")


class TelegramSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="C2_TELEGRAM_")
    bot_token: SecretStr | None = None
    admin_ids: CommaInts = []
    viewer_ids: CommaInts = []
    #: Group chats allowed besides private chats (deny by default).
    allowed_chat_ids: CommaInts = []
    #: A self-hosted Bot API server (and how tests point at a local fake).
    api_base_url: str = "https://api.telegram.org"
    #: Daily summary time, UTC, ``HH:MM``.
    daily_summary_utc: str = Field("00:05", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    #: A command sent longer ago than this (held by Telegram while the C2 was away) is
    #: not executed.
    max_message_age_seconds: int = Field(60, ge=1, le=86400)
    #: Per Telegram user; more are refused (and audited) until the minute has passed.
    commands_per_minute: int = Field(20, ge=1, le=1000)

    _split = field_validator("admin_ids", "viewer_ids", "allowed_chat_ids", mode="before")(
        _split_ids
    )


class ServiceSettings(_Group):
    """What every long-running service shares: logging and its health/metrics port."""

    model_config = SettingsConfigDict(env_prefix="ALPHA_")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: ``json`` in production (one object per line); ``text`` for a terminal; ``auto`` picks.
    log_format: Literal["json", "text", "auto"] = "auto"
    #: ``/healthz`` and ``/metrics``; 0 disables the endpoint.
    http_port: int = Field(9100, ge=0, le=65535)
    #: Loopback unless told otherwise (deny by default); containers set 0.0.0.0 so that
    #: Prometheus reaches it over the stack's internal network.
    http_host: str = "127.0.0.1"


class ListenerSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="LISTENER_")
    spool_dir: Path = Path(".run/spool")
    spool_max_bytes: int = Field(512 * 1024 * 1024, ge=1024)
    #: How far before the last committed exec_time a catch-up starts (clock skew, late rows).
    catchup_margin_seconds: int = Field(300, ge=0)
    #: With no ledger yet, how far back the first catch-up reaches.
    catchup_initial_days: int = Field(7, ge=0, le=730)
    max_batch: int = Field(500, ge=1, le=10000)


class SyncSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="SYNC_")
    execution_audit_seconds: int = Field(60, ge=1)
    execution_window_hours: int = Field(24, ge=1)
    order_audit_seconds: int = Field(60, ge=1)
    position_drift_seconds: int = Field(60, ge=1)
    wallet_snapshot_seconds: int = Field(300, ge=1)
    #: Ledger vs Bybit's transaction log per account and UTC day (realized P&L, fees, funding).
    transaction_log_seconds: int = Field(3600, ge=1)
    #: How many UTC days, today included, each run checks (days still drifting are re-checked).
    transaction_log_days: int = Field(2, ge=1, le=730)
    #: Per transaction-log entry of a day, the difference allowed for rounding (USDT).
    transaction_log_tolerance: Decimal = Field(Decimal("0.00000001"), ge=0)


class BackupSettings(_Group):
    model_config = SettingsConfigDict(env_prefix="BACKUP_")
    dir: Path = Path(".run/backups")
    cron: str = "30 3 * * *"
    keep_daily: int = Field(30, ge=0)
    keep_weekly: int = Field(12, ge=0)
    keep_monthly: int = Field(12, ge=0)


#: Alert severities, least severe first (``NOTIFY_MIN_SEVERITY`` names one of them).
SEVERITIES = ("info", "warning", "critical")


class ChannelSettings(_Group):
    """Notify-only channels besides Telegram (Discord, Slack, e-mail, webhooks …), sent
    through Apprise by the C2 (docs/notifications.md). Unset ``NOTIFY_URLS``: none."""

    model_config = SettingsConfigDict(env_prefix="NOTIFY_")
    #: Apprise URLs separated by spaces, newlines or commas. A secret: a webhook URL
    #: carries its token, so the URLs are never logged or shown.
    urls: SecretStr | None = None
    #: Entries below this severity are not sent to these channels (Telegram still gets them).
    min_severity: Literal["info", "warning", "critical"] = "info"
    #: ``alerts``, ``trades`` or both (comma separated).
    kinds: Annotated[list[Literal["alerts", "trades"]], NoDecode] = ["alerts", "trades"]
    #: Messages per minute per channel; what waits beyond it goes in the next message.
    per_minute: int = Field(20, ge=1, le=600)

    _split = field_validator("kinds", mode="before")(_split_ids)

    @field_validator("kinds")
    @classmethod
    def _some(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name alerts, trades or both")
        return list(dict.fromkeys(value))


class _Top(_Group):
    """The few settings without a group prefix."""

    model_config = SettingsConfigDict(env_prefix="")
    bot_id: BotId | None = None

    @field_validator("bot_id", mode="before")
    @classmethod
    def _bot_id(cls, value: object) -> object:
        return BotId(value) if isinstance(value, str) and value else None


_ACCOUNT_VAR = re.compile(r"^BYBIT_ACCOUNT_([A-Z][A-Z0-9_]*)_(API_KEY|API_SECRET)(_FILE)?$")


@dataclass(frozen=True)
class AccountCredentials:
    """One exchange account's API key pair. The repr never shows either half."""

    name: AccountName
    api_key: SecretStr
    api_secret: SecretStr

    def __repr__(self) -> str:
        return f"AccountCredentials(name={self.name!r}, api_key=**********)"


@dataclass(frozen=True)
class Settings:
    """The whole configuration tree. Build it with :func:`load_settings`."""

    postgres: PostgresSettings
    pgbouncer: PgBouncerSettings
    db_roles: DatabaseRoleSettings
    redis: RedisSettings
    bybit: BybitSettings
    telegram: TelegramSettings
    service: ServiceSettings
    listener: ListenerSettings
    sync: SyncSettings
    backup: BackupSettings
    bot_id: BotId | None
    accounts: Mapping[AccountName, AccountCredentials]
    #: Defaulted (no channels, without reading the environment) so that code building a
    #: tree by hand, as tests do, need not name it.
    notify: ChannelSettings = dataclasses.field(default_factory=ChannelSettings.model_construct)

    GROUPS: ClassVar[tuple[str, ...]] = (
        "postgres", "pgbouncer", "db_roles", "redis", "bybit", "telegram",
        "service", "listener", "sync", "backup", "notify",
    )  # fmt: skip

    def require_bot_id(self) -> BotId:
        if self.bot_id is None:
            raise ConfigError("BOT_ID: not set (the bot this process runs, e.g. shortseller_001)")
        return self.bot_id

    def account(self, name: str) -> AccountCredentials:
        try:
            return self.accounts[AccountName(name)]
        except (KeyError, ValueError):
            known = ", ".join(sorted(self.accounts)) or "none configured"
            raise ConfigError(
                f"account {name!r} has no API key (BYBIT_ACCOUNT_{name.upper()}_API_KEY); "
                f"known accounts: {known}"
            ) from None


_GROUP_TYPES: dict[str, type[_Group]] = {
    "postgres": PostgresSettings,
    "pgbouncer": PgBouncerSettings,
    "db_roles": DatabaseRoleSettings,
    "redis": RedisSettings,
    "bybit": BybitSettings,
    "telegram": TelegramSettings,
    "service": ServiceSettings,
    "listener": ListenerSettings,
    "sync": SyncSettings,
    "backup": BackupSettings,
    "notify": ChannelSettings,
}


def known_variables() -> set[str]:
    """Every environment variable the configuration reads (for the compose checks)."""
    # Read outside these groups: the bot's id (bots/runtime), and the paper exchange's
    # accounts with their secrets (paper_exchange/cli.py).
    names = {"BOT_ID", "PAPER_ACCOUNTS", "PAPER_ACCOUNTS_FILE"}
    for group in _GROUP_TYPES.values():
        for field, info in group.model_fields.items():
            name = group.env_name(field)
            names.add(name)
            if info.annotation is not None and "SecretStr" in repr(info.annotation):
                names.add(f"{name}_FILE")
    return names


def is_known_variable(name: str) -> bool:
    return name in known_variables() or _ACCOUNT_VAR.match(name) is not None


def _one_line(group: type[_Group], exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    var = group.env_name(field) if field else group.__name__
    # The message never echoes the offending value: it might be a secret.
    return ConfigError(f"{var}: {first['msg']}")


def _read_env_or_file(var: str, env: Mapping[str, str]) -> str | None:
    value = env.get(var)
    path = env.get(f"{var}_FILE")
    if value and path:
        raise ConfigError(f"{var}: set either {var} or {var}_FILE, not both")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{var}_FILE: cannot read {path}: {exc.strerror}") from None
    return value or None


def _accounts(
    bybit: BybitSettings, env: Mapping[str, str]
) -> dict[AccountName, AccountCredentials]:
    accounts: dict[AccountName, AccountCredentials] = {}
    if bybit.api_key and bybit.api_secret:
        main = AccountName("main")
        accounts[main] = AccountCredentials(main, bybit.api_key, bybit.api_secret)
    elif bybit.api_key or bybit.api_secret:
        missing = "BYBIT_API_SECRET" if bybit.api_key else "BYBIT_API_KEY"
        raise ConfigError(f"{missing}: not set, but its pair is (set both or neither)")
    names = {m.group(1) for var in env if (m := _ACCOUNT_VAR.match(var))}
    for raw in sorted(names):
        if not AccountName.is_valid(raw.lower()):
            raise ConfigError(f"BYBIT_ACCOUNT_{raw}_API_KEY: invalid account name {raw.lower()!r}")
        key = _read_env_or_file(f"BYBIT_ACCOUNT_{raw}_API_KEY", env)
        secret = _read_env_or_file(f"BYBIT_ACCOUNT_{raw}_API_SECRET", env)
        if not key or not secret:
            which = "API_SECRET" if key else "API_KEY"
            raise ConfigError(f"BYBIT_ACCOUNT_{raw}_{which}: not set, but its pair is")
        name = AccountName(raw.lower())
        if name in accounts:
            raise ConfigError(f"BYBIT_ACCOUNT_{raw}_API_KEY: account {name!r} is defined twice")
        accounts[name] = AccountCredentials(name, SecretStr(key), SecretStr(secret))
    return accounts


def load_settings() -> Settings:
    """Read and validate the whole tree; raise a one-line ConfigError on the first problem."""
    groups: dict[str, Any] = {}
    every: list[tuple[str, type[_Group]]] = [*_GROUP_TYPES.items(), ("top", _Top)]
    for attr, group in every:
        try:
            groups[attr] = group()
        except ValidationError as exc:
            raise _one_line(group, exc) from None
    return Settings(
        **{attr: groups[attr] for attr in _GROUP_TYPES},
        bot_id=groups["top"].bot_id,
        accounts=_accounts(groups["bybit"], os.environ),
    )


def masked(settings: Settings) -> dict[str, dict[str, Any]]:
    """The effective configuration as plain data, every secret replaced by ``**********``."""
    out: dict[str, dict[str, Any]] = {}
    for attr in Settings.GROUPS:
        group: _Group = getattr(settings, attr)
        rows: dict[str, Any] = {}
        for field in type(group).model_fields:
            value = getattr(group, field)
            if isinstance(value, SecretStr):
                value = "**********" if value.get_secret_value() else "(empty)"
            elif isinstance(value, StrEnum):
                value = value.value
            elif isinstance(value, Path):
                value = str(value)
            rows[type(group).env_name(field)] = value
        out[attr] = rows
    out["top"] = {"BOT_ID": settings.bot_id}
    out["accounts"] = {str(name): "api key **********" for name in settings.accounts}
    return out
