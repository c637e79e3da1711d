"""Checks of the production compose file, its ``.env.example`` and the ``Dockerfile``.

No Docker engine is needed: the compose file is validated against the compose-spec JSON
schema that ``check-jsonschema`` ships, then its topology is checked against what the
code expects (docs/architecture.md). Every check returns a list of problems, each a sentence that
names the service and the variable or setting at fault; an empty list means it passed.
The tests run these on the real files and on deliberately broken copies.

Reading the file is ``deploy/compose_file.py``; the Dockerfile's checks are
``deploy/dockerfile_check.py``.

    python deploy/compose_check.py [docker-compose.production.yml]
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

if not __package__:
    # Run as ``python deploy/compose_check.py``: Python puts deploy/ on the path, not the
    # repository, and deploy/ is not an installed package.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.compose_file import (
    COMPOSE_FILE,
    ROOT,
    Compose,
    alpha_services,
    bots,
    collected,
    collectors,
    command,
    duration_seconds,
    env_file_paths,
    environment,
    host_names,
    is_one_shot,
    load,
    pooled_services,
    read_env_file,
    registrations,
    run_verb,
)
from deploy.dockerfile_check import check_dockerfile

#: Variables that mean "reach PostgreSQL directly"; only migrations/backups may use them.
DIRECT_VARIABLES = (
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_USER",
    "POSTGRES_PASSWORD",
    "POSTGRES_PASSWORD_FILE",
)
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY)$")
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
#: The shortest default interval of a bot's Docker health check. Each check is an exec
#: into the container, about 175 ms of CPU on a 2-core host: fifty bots checked every
#: 15 s took 58 % of a core and slowed the listener (docs/fleet.md#health-checks).
BOT_HEALTHCHECK_SECONDS = 60


def compose_schema() -> dict[str, Any]:
    """The compose-spec schema vendored by check-jsonschema (no network needed)."""
    vendor = resources.files("check_jsonschema") / "builtin_schemas" / "vendor"
    return json.loads((vendor / "compose-spec.json").read_text(encoding="utf-8"))


# --- the checks ----------------------------------------------------------------------


def check_schema(compose: Compose) -> list[str]:
    schema = compose_schema()
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    problems = []
    for error in sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"schema: {where}: {error.message}")
    return problems


def check_bots(compose: Compose) -> list[str]:
    problems: list[str] = []
    ids: Counter[str] = Counter()
    dbs: Counter[str] = Counter()
    for name, svc in bots(compose).items():
        env = environment(svc)
        bot_id = env.get("BOT_ID")
        cmd = command(svc)
        if not bot_id:
            problems.append(f"{name}: bot service without BOT_ID")
        else:
            ids[bot_id] += 1
            if cmd[2:3] != [bot_id]:
                problems.append(f"{name}: command runs {cmd[2:3]} but BOT_ID is {bot_id}")
        interval = str((svc.get("healthcheck") or {}).get("interval", "30s"))
        try:
            seconds = duration_seconds(interval)
        except ValueError as exc:
            problems.append(f"{name}: health check interval: {exc}")
            seconds = BOT_HEALTHCHECK_SECONDS
        if seconds < BOT_HEALTHCHECK_SECONDS:
            problems.append(
                f"{name}: health check every {interval} by default; a bot's must be at least "
                f"{BOT_HEALTHCHECK_SECONDS}s apart (each is an exec costing a fleet's CPU)"
            )
        redis_db = env.get("REDIS_DB")
        if redis_db is None:
            continue  # registered without --redis-db: its keys live in the shared DB 0
        if not redis_db.isdigit() or not 0 <= int(redis_db) <= 15:
            problems.append(f"{name}: REDIS_DB must be a logical DB 0-15, got {redis_db!r}")
            continue
        dbs[redis_db] += 1
        if redis_db == env.get("REDIS_INFRA_DB", "15"):
            problems.append(f"{name}: REDIS_DB {redis_db} is the infrastructure DB")
    problems += [f"duplicate BOT_ID {bot_id} ({n} services)" for bot_id, n in ids.items() if n > 1]
    for redis_db, n in dbs.items():
        if n > 1:
            owners = [
                b for b, s in bots(compose).items() if environment(s).get("REDIS_DB") == redis_db
            ]
            problems.append(f"duplicate REDIS_DB {redis_db}: {', '.join(owners)}")
    return problems


def check_redis_users(compose: Compose) -> list[str]:
    """Every long-running service logs in to Redis as its own ACL user, each bot as
    ``bot-<BOT_ID>``, and the Redis service knows every bot (REDIS_BOTS) with a password."""
    from core import redis_acl  # the code is the reference

    problems: list[str] = []
    redis_env = environment(compose.get("services", {}).get("redis", {}))
    known_bots = set(redis_env.get("REDIS_BOTS", "").split())
    for name, svc in alpha_services(compose).items():
        verb = run_verb(svc)
        env = environment(svc)
        want = redis_acl.user_for(verb or "", env.get("BOT_ID"))
        if verb == "bot":
            bot_id = str(env.get("BOT_ID"))
            if bot_id not in known_bots:
                problems.append(f"redis: REDIS_BOTS does not list {bot_id} (service {name})")
            elif f"REDIS_PASSWORD_BOT_{bot_id.upper()}" not in redis_env:
                problems.append(f"redis: no REDIS_PASSWORD_BOT_{bot_id.upper()} for {name}")
        if want is not None and env.get("REDIS_USERNAME") != want:
            problems.append(
                f"{name}: REDIS_USERNAME must be {want!r} (its own ACL user), "
                f"got {env.get('REDIS_USERNAME')!r}"
            )
    return problems


def check_pgbouncer(compose: Compose, base: Path = ROOT) -> list[str]:
    """Pooled services go through PgBouncer, and PgBouncer knows each one's role: its
    password is in PgBouncer's environment, and the entrypoint writes it to the auth file
    and the ini caps its connections (a role missing there cannot log in)."""
    problems: list[str] = []
    bouncer = environment((compose.get("services") or {}).get("pgbouncer") or {})
    entrypoint = (base / "deploy/pgbouncer/entrypoint.sh").read_text(encoding="utf-8")
    roles = set(re.findall(r"^for role in ([a-z ]+);", entrypoint, re.M)[0].split())
    ini = (base / "deploy/pgbouncer/pgbouncer.ini").read_text(encoding="utf-8")
    for name, svc in pooled_services(compose).items():
        env = environment(svc)
        for var in sorted(env):
            role = re.fullmatch(r"ALPHA_DB_([A-Z]+)_PASSWORD(?:_FILE)?", var)
            if role is None:
                continue
            lower, plain = role.group(1).lower(), var.removesuffix("_FILE")
            if plain not in bouncer and f"{plain}_FILE" not in bouncer:
                problems.append(f"{name}: pgbouncer's environment lacks {plain}")
            if lower not in roles:
                problems.append(f"{name}: deploy/pgbouncer/entrypoint.sh writes no {lower} login")
            if f"\nalpha_{lower} = max_user_connections=" not in ini:
                problems.append(f"{name}: deploy/pgbouncer/pgbouncer.ini has no alpha_{lower} cap")
        for var in DIRECT_VARIABLES:
            if var in env:
                problems.append(f"{name}: bypasses PgBouncer ({var} is set; use PGBOUNCER_HOST)")
        if env.get("PGBOUNCER_HOST") != "pgbouncer":
            problems.append(
                f"{name}: PGBOUNCER_HOST must be pgbouncer, got {env.get('PGBOUNCER_HOST')!r}"
            )
        depends = svc.get("depends_on") or {}
        if "pgbouncer" not in depends:
            problems.append(f"{name}: does not depend on pgbouncer")
    return problems


def check_variables(
    compose: Compose, base: Path = ROOT, variables: Mapping[str, str] | None = None
) -> list[str]:
    """Every variable an Alpha service receives is one the configuration reads."""
    from core.config import is_known_variable  # the code is the reference

    problems: list[str] = []
    for name, svc in alpha_services(compose).items():
        received = dict(environment(svc))
        for path in env_file_paths(svc, base, variables or {"BYBIT_ENV": "paper"}):
            if path.exists():
                received.update(read_env_file(path))
        for var in sorted(received):
            if not is_known_variable(var):
                problems.append(f"{name}: unknown variable {var} (core.config does not read it)")
    return problems


def check_env_files(compose: Compose, base: Path = ROOT) -> list[str]:
    """Each BYBIT_ENV choice has its env file, and it sets BYBIT_ENV to that choice."""
    from core.config import BybitEnv, is_known_variable

    problems: list[str] = []
    hosts = host_names(compose)
    for env in BybitEnv:
        paths = {
            p
            for svc in alpha_services(compose).values()
            for p in env_file_paths(svc, base, {"BYBIT_ENV": env.value})
        }
        for path in paths:
            if not path.exists():
                problems.append(f"BYBIT_ENV={env.value}: {path.relative_to(base)} does not exist")
                continue
            values = read_env_file(path)
            if values.get("BYBIT_ENV") != env.value:
                problems.append(f"{path.name}: sets BYBIT_ENV={values.get('BYBIT_ENV')!r}")
            for var in values:
                if not is_known_variable(var):
                    problems.append(f"{path.name}: unknown variable {var}")
            for var in ("BYBIT_REST_URL", "BYBIT_WS_URL"):
                host = re.sub(r"^\w+://([^:/]+).*$", r"\1", values.get(var, ""))
                if env is BybitEnv.PAPER and host not in hosts:
                    problems.append(f"{path.name}: {var} points at {host!r}, not a compose service")
    return problems


def check_bootstrap(compose: Compose) -> list[str]:
    problems: list[str] = []
    registered = registrations(compose)
    if not registered:
        return ["no bootstrap service registers the bots (alpha bots register …)"]
    for name, svc in bots(compose).items():
        env = environment(svc)
        bot_id = env.get("BOT_ID", "")
        if bot_id not in registered:
            problems.append(f"{name}: BOT_ID {bot_id} is not registered by the bootstrap")
            continue
        flag_db = registered[bot_id].get("redis-db")
        if flag_db != env.get("REDIS_DB"):
            registers = "without --redis-db" if flag_db is None else f"with --redis-db {flag_db}"
            problems.append(
                f"{name}: REDIS_DB {env.get('REDIS_DB') or '(unset: shared DB)'} but the "
                f"bootstrap registers {bot_id} {registers}"
            )
        depends = svc.get("depends_on") or {}
        boot = [
            n
            for n, s in alpha_services(compose).items()
            if "bots register" in str(s.get("command"))
        ]
        if not any(
            b in depends and depends[b].get("condition") == "service_completed_successfully"
            for b in boot
        ):
            problems.append(f"{name}: does not wait for the bootstrap to complete")
    return problems


def check_collector(compose: Compose) -> list[str]:
    """One collector feeds the market data store every symbol the bootstrap registers, at
    the interval each registered bot type trades by default, so a bot warms up from the
    store and a backtest reads what production saw."""
    from core import plugins  # the code is the reference: each type's default interval

    found = collectors(compose)
    if len(found) != 1:
        return [f"{len(found)} collector services (alpha data collect); want exactly one"]
    ((name, svc),) = found.items()
    symbols, intervals = collected(svc)
    problems: list[str] = []
    for bot_id, flags in sorted(registrations(compose).items()):
        missing = [s for s in flags.get("symbols", "").split(",") if s and s not in symbols]
        if missing:
            problems.append(f"{name}: does not collect {', '.join(missing)} ({bot_id} trades it)")
        bot_type = flags.get("type", "")
        try:
            interval = plugins.validate_config(bot_type, {}).interval  # type: ignore[attr-defined]
        except Exception as exc:  # an unknown type is check_bootstrap's business, not ours
            problems.append(f"{name}: cannot read {bot_id}'s interval ({exc})")
            continue
        if interval not in intervals:
            problems.append(
                f"{name}: does not collect interval {interval} ({bot_id}, {bot_type}, trades it)"
            )
    return problems


def check_operations(compose: Compose) -> list[str]:
    """Healthchecks, restart policies, memory limits, log rotation, depends_on conditions."""
    problems: list[str] = []
    services = compose.get("services") or {}
    for name, svc in services.items():
        health = svc.get("healthcheck") or {}
        if not is_one_shot(svc):
            if health.get("disable") or not health.get("test"):
                problems.append(f"{name}: long-running service without a healthcheck")
            if svc.get("restart") not in ("always", "unless-stopped", "on-failure"):
                problems.append(f"{name}: no restart policy")
        limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        if not (limits.get("memory") or svc.get("mem_limit")):
            problems.append(f"{name}: no memory limit")
        logging = svc.get("logging") or {}
        options = logging.get("options") or {}
        if logging.get("driver") != "json-file" or not {"max-size", "max-file"} <= set(options):
            problems.append(f"{name}: no log rotation (json-file with max-size and max-file)")
        depends = svc.get("depends_on") or {}
        if isinstance(depends, list):
            problems.append(f"{name}: depends_on without conditions")
            continue
        for dep, spec in depends.items():
            target = services.get(dep)
            if target is None:
                problems.append(f"{name}: depends on unknown service {dep}")
                continue
            want = "service_completed_successfully" if is_one_shot(target) else "service_healthy"
            if (spec or {}).get("condition") != want:
                problems.append(f"{name}: depends_on {dep} should use condition {want}")
    return problems


def check_secrets(compose: Compose) -> list[str]:
    """Secrets come from the environment (``${VAR}``) or files, never literals here."""
    problems: list[str] = []
    for name, svc in (compose.get("services") or {}).items():
        for var, value in environment(svc).items():
            if SECRET_NAME.search(var) and value and not INTERPOLATION.search(value):
                problems.append(f"{name}: {var} is a literal in the compose file; use ${{{var}}}")
    return problems


def check_backup_volume(compose: Compose) -> list[str]:
    problems: list[str] = []
    named = set(compose.get("volumes") or {})
    for name, svc in alpha_services(compose).items():
        if run_verb(svc) != "backup":
            continue
        target = environment(svc).get("BACKUP_DIR", "")
        mounts = [
            v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}"
            for v in svc.get("volumes") or []
        ]
        source = next((m.split(":")[0] for m in mounts if m.split(":")[1:2] == [target]), None)
        if source is None:
            problems.append(f"{name}: BACKUP_DIR {target!r} is not a mounted volume")
        elif source not in named and not source.startswith("/"):
            problems.append(f"{name}: backups on {source!r}, inside the repository")
    return problems


ALL_CHECKS: tuple[Callable[[Compose], list[str]], ...] = (
    check_schema,
    check_bots,
    check_pgbouncer,
    check_variables,
    check_env_files,
    check_bootstrap,
    check_operations,
    check_secrets,
    check_backup_volume,
    check_redis_users,
    check_collector,
)


def check_all(compose: Compose) -> list[str]:
    return [problem for check in ALL_CHECKS for problem in check(compose)]


# --- .env.example --------------------------------------------------------------------


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)


def interpolated_variables(compose_text: str) -> set[str]:
    """Every ``${VAR}`` compose substitutes: in values, not comments (``$${VAR}`` is a
    literal ``${VAR}`` for the container's shell)."""
    data = yaml.safe_load(compose_text)
    return {var for text in _strings(data) for var in INTERPOLATION.findall(text)}


def check_env_example(compose_text: str, example_text: str) -> list[str]:
    documented = {
        line.split("=", 1)[0].strip()
        for line in example_text.splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    }
    return [
        f".env.example: {var} is interpolated by the compose file but not documented"
        for var in sorted(interpolated_variables(compose_text) - documented)
    ]


def main(argv: Iterable[str] = ()) -> int:
    args = list(argv)
    path = Path(args[0]) if args else COMPOSE_FILE
    problems = check_all(load(path))
    problems += check_env_example(path.read_text(), (path.parent / ".env.example").read_text())
    problems += check_dockerfile((path.parent / "Dockerfile").read_text())
    for problem in problems:
        print(problem)
    print("ok" if not problems else f"{len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
