"""``alpha dev services up|down|status``: PostgreSQL, PgBouncer and Redis for development.

``up`` reuses each server that answers at its configured address and starts the others
privately under the run directory (``.run/`` by default), on the configured port when
it is free, else on a free one. It then creates the roles and the database (as the
admin login) and points PgBouncer's ``auth_file`` at the roles' SCRAM verifiers. Role
passwords missing from the configuration are generated once and kept in
``<run dir>/secrets.json`` (mode 0600). The environment to use is printed (``--json``:
machine-readable, secrets included; text: secrets masked).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import redis
from pydantic import SecretStr

from core import redis_acl
from core.config import PgBouncerSettings, PostgresSettings, RedisSettings, Role, Settings
from core.errors import UserError
from database import bootstrap
from devenv.pgbouncer import ROLE_POOLS, PgBouncer
from devenv.ports import free_port, port_open
from devenv.postgres import PrivatePostgres
from devenv.redis_server import RedisServer

STATE = "services.json"
SECRETS = "secrets.json"
MASK = "**********"


def _port(host: str, preferred: int) -> int:
    return free_port(host) if port_open(host, preferred) else preferred


def postgres_answers(pg: PostgresSettings) -> bool:
    """Does the configured PostgreSQL accept the admin login?"""
    try:
        psycopg.connect(
            host=pg.host,
            port=pg.port,
            dbname="postgres",
            user=pg.user,
            password=pg.password.get_secret_value() if pg.password else None,
            connect_timeout=3,
        ).close()
        return True
    except psycopg.OperationalError:
        return False


def _redis_answers(cfg: RedisSettings) -> bool:
    try:
        client = redis.Redis(
            host=cfg.host,
            port=cfg.port,
            password=cfg.password.get_secret_value() if cfg.password else None,
            socket_connect_timeout=2,
        )
        return bool(client.ping())
    except redis.RedisError:
        return False


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write_private(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2)


def _role_passwords(settings: Settings, run_dir: Path) -> Settings:
    """Fill missing role passwords from (or into) ``secrets.json``."""
    saved = _read_json(run_dir / SECRETS)
    changes: dict[str, SecretStr] = {}
    for role in Role:
        if settings.db_roles.password(role) is None:
            key = f"ALPHA_DB_{role.value.upper()}_PASSWORD"
            saved.setdefault(key, secrets.token_urlsafe(18))
            changes[f"{role.value}_password"] = SecretStr(saved[key])
    if changes:
        _write_private(run_dir / SECRETS, saved)
    roles = settings.db_roles.model_copy(update=changes)
    return replace(settings, db_roles=roles)


def up(settings: Settings, run_dir: Path) -> dict[str, Any]:
    run_dir = run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o711)  # PgBouncer runs unprivileged and must reach its own subfolder
    state = _read_json(run_dir / STATE)
    saved = _read_json(run_dir / SECRETS)
    pg = settings.postgres
    if state.get("postgres", {}).get("managed"):  # ours from an earlier `up`
        pg = pg.model_copy(update={"port": state["postgres"]["port"], "password": None})
    if state.get("redis", {}).get("managed") and settings.redis.password is None:
        cfg_update = {"port": state["redis"]["port"]}
        if saved.get("REDIS_PASSWORD"):
            cfg_update["password"] = SecretStr(saved["REDIS_PASSWORD"])
        settings = replace(settings, redis=settings.redis.model_copy(update=cfg_update))
    if not postgres_answers(pg):
        private = PrivatePostgres(run_dir / "postgres", _port(pg.host, pg.port), host=pg.host)
        private.start()
        pg = pg.model_copy(update={"port": private.port, "user": private.user, "password": None})
        state["postgres"] = {"managed": True, "host": pg.host, "port": pg.port, "user": pg.user}
        _write_private(run_dir / STATE, state)  # so `down` can stop it if a later step fails
    elif not state.get("postgres", {}).get("managed"):
        state["postgres"] = {"managed": False, "host": pg.host, "port": pg.port, "user": pg.user}

    cfg = settings.redis
    if not _redis_answers(cfg):
        password = cfg.password.get_secret_value() if cfg.password else secrets.token_urlsafe(18)
        # The services' ACL users as production has them (docs/redis.md#access); each
        # password is printed as REDIS_<USER>_PASSWORD. Bots registered later use the
        # operator's login here (their users come with the compose file and the demo).
        users = redis_acl.service_users()
        saved = _read_json(run_dir / SECRETS)
        for user in users:
            saved.setdefault(_user_var(user.name), secrets.token_urlsafe(18))
        _write_private(run_dir / SECRETS, saved)
        server = RedisServer(
            run_dir / "redis", _port(cfg.host, cfg.port), cfg.host, password,
            users=[(u, saved[_user_var(u.name)]) for u in users],
        )  # fmt: skip
        server.start()
        cfg = cfg.model_copy(update={"port": server.port, "password": SecretStr(password)})
        state["redis"] = {"managed": True, "host": cfg.host, "port": cfg.port}
        _write_private(run_dir / STATE, state)
        saved = _read_json(run_dir / SECRETS)
        saved["REDIS_PASSWORD"] = password
        _write_private(run_dir / SECRETS, saved)
    elif not state.get("redis", {}).get("managed"):
        state["redis"] = {"managed": False, "host": cfg.host, "port": cfg.port}

    settings = _role_passwords(replace(settings, postgres=pg, redis=cfg), run_dir)
    done = bootstrap.bootstrap(settings)
    verifiers = bootstrap.verifiers_for(settings)

    bouncer_cfg = settings.pgbouncer
    ours = state.get("pgbouncer", {})
    bouncer = PgBouncer(
        run_dir=run_dir / "pgbouncer",
        server_host=pg.host,
        server_port=pg.port,
        port=int(ours.get("port", bouncer_cfg.port)),
        host=bouncer_cfg.host,
        user_pools={settings.db_roles.name(r): ROLE_POOLS[r.value] for r in Role},
        admin_password=ours.get("admin_password") or secrets.token_urlsafe(18),
    )
    if ours.get("managed") and bouncer.running():
        bouncer.reload(verifiers)
    elif port_open(bouncer_cfg.host, bouncer_cfg.port):
        state["pgbouncer"] = {"managed": False, "host": bouncer_cfg.host, "port": bouncer_cfg.port}
    else:
        bouncer.port = _port(bouncer_cfg.host, bouncer_cfg.port)
        bouncer.start(verifiers)
        state["pgbouncer"] = {
            "managed": True,
            "host": bouncer.host,
            "port": bouncer.port,
            "admin_password": bouncer.admin_password,
        }
        bouncer_cfg = PgBouncerSettings(host=bouncer.host, port=bouncer.port)
    if state["pgbouncer"].get("managed"):
        bouncer_cfg = PgBouncerSettings(host=bouncer.host, port=bouncer.port)
    _write_private(run_dir / STATE, state)
    settings = replace(settings, pgbouncer=bouncer_cfg)
    env = {**environment(settings), **redis_users(run_dir)}
    return {"env": env, "state": _public(state), "bootstrap": done}


def _public(state: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {k: v for k, v in info.items() if "password" not in k} for name, info in state.items()
    }


def environment(settings: Settings) -> dict[str, str]:
    """The variables a shell (or ``.env``) needs to use these services."""
    env = {
        "POSTGRES_HOST": settings.postgres.host,
        "POSTGRES_PORT": str(settings.postgres.port),
        "POSTGRES_DB": settings.postgres.db,
        "POSTGRES_USER": settings.postgres.user,
        "PGBOUNCER_HOST": settings.pgbouncer.host,
        "PGBOUNCER_PORT": str(settings.pgbouncer.port),
        "REDIS_HOST": settings.redis.host,
        "REDIS_PORT": str(settings.redis.port),
        "ALPHA_DB_ROLE_PREFIX": settings.db_roles.role_prefix,
    }
    secret_values = {
        "POSTGRES_PASSWORD": settings.postgres.password,
        "REDIS_PASSWORD": settings.redis.password,
        **{f"ALPHA_DB_{r.value.upper()}_PASSWORD": settings.db_roles.password(r) for r in Role},
    }
    env.update({k: v.get_secret_value() for k, v in secret_values.items() if v})
    return env


def _user_var(user: str) -> str:
    """``listener`` -> ``REDIS_LISTENER_PASSWORD`` (the names of .env.example)."""
    return f"REDIS_{user.upper()}_PASSWORD"


def redis_users(run_dir: Path) -> dict[str, str]:
    """The ACL users' passwords of the Redis ``up`` started (empty for a reused one)."""
    saved = _read_json(run_dir.resolve() / SECRETS)
    names = [_user_var(u.name) for u in redis_acl.service_users()]
    return {name: saved[name] for name in names if name in saved}


def status(run_dir: Path) -> dict[str, Any]:
    state = _public(_read_json(run_dir.resolve() / STATE))
    for info in state.values():
        info["answers"] = port_open(info["host"], int(info["port"]))
    return state


def down(run_dir: Path) -> list[str]:
    """Stop what ``up`` started (never a reused server); returns what was stopped."""
    run_dir = run_dir.resolve()
    state = _read_json(run_dir / STATE)
    stopped: list[str] = []
    if state.get("pgbouncer", {}).get("managed"):
        PgBouncer(run_dir / "pgbouncer", "", 0, 0).stop()
        stopped.append("pgbouncer")
    if state.get("redis", {}).get("managed"):
        RedisServer(run_dir / "redis", 0).stop()
        stopped.append("redis")
    if state.get("postgres", {}).get("managed"):
        PrivatePostgres(run_dir / "postgres", 0).stop()
        stopped.append("postgres")
    (run_dir / STATE).unlink(missing_ok=True)
    return stopped


def mask_env(env: dict[str, str]) -> dict[str, str]:
    return {k: (MASK if "PASSWORD" in k else v) for k, v in env.items()}


def require_state(run_dir: Path) -> None:
    if not (run_dir / STATE).exists():
        raise UserError(f"no services started from {run_dir} (run `alpha dev services up`)")
