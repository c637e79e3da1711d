"""Reading the production compose file: its services, their environment and commands.

What the checks in ``deploy/compose_check.py`` and the rehearsal need to know about the
file — which services run our image, which verb each runs, which bots the bootstrap
registers — without judging it. Apart from the checks because the rehearsal and the
demo's tests read the same facts.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.production.yml"

Compose = Mapping[str, Any]
Service = Mapping[str, Any]

#: ``alpha run <verb>`` services that connect straight to PostgreSQL (docs/database-roles.md).
DIRECT_RUN_VERBS = {"backup"}
#: ``alpha run <verb>`` services that use no database at all.
NO_DATABASE_RUN_VERBS = {"paper-exchange"}


def load(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The compose file as data, YAML anchors and ``<<`` merges resolved."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    return data


def environment(service: Service) -> dict[str, str]:
    """The ``environment:`` block as a dict, whichever of its two YAML forms is used."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def env_file_paths(service: Service, base: Path, variables: Mapping[str, str]) -> list[Path]:
    """The service's ``env_file`` paths, ``${VAR}`` interpolated from ``variables``."""
    entries = service.get("env_file") or []
    if isinstance(entries, str | dict):
        entries = [entries]
    paths = []
    for entry in entries:
        raw = entry["path"] if isinstance(entry, dict) else entry
        paths.append(base / interpolate(str(raw), variables))
    return paths


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}``, ``${VAR:?err}`` (enough for paths)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        value = variables.get(name, "")
        if op in (":-", "-") and not value:
            return arg
        return value

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?([^}]*)\}", one, text)


def duration_seconds(text: str) -> float:
    """Compose's duration (``1m30s``, ``90s``, ``500ms``) in seconds; a ``${VAR:-default}``
    counts as its default."""
    text = interpolate(str(text), {}).strip()
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", text)
    if not parts or "".join(a + u for a, u in parts) != text:
        raise ValueError(f"not a compose duration: {text!r}")
    return sum(float(amount) * units[unit] for amount, unit in parts)


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def command(service: Service) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


# --- roles of services ---------------------------------------------------------------


def alpha_image(compose: Compose) -> str | None:
    return (compose.get("x-app") or {}).get("image")


def alpha_services(compose: Compose) -> dict[str, Service]:
    """Services that run our image (the ones whose environment our code reads)."""
    image = alpha_image(compose)
    return {
        name: svc
        for name, svc in (compose.get("services") or {}).items()
        if image is not None and svc.get("image") == image
    }


def host_names(compose: Compose) -> set[str]:
    """Every name a service answers to on the compose network: its name and aliases."""
    services = compose.get("services") or {}
    hosts = set(services)
    for svc in services.values():
        networks = svc.get("networks")
        for net in networks.values() if isinstance(networks, dict) else []:
            hosts.update((net or {}).get("aliases", []))
    return hosts


def run_verb(service: Service) -> str | None:
    cmd = command(service)
    return cmd[1] if len(cmd) >= 2 and cmd[0] == "run" else None


def is_one_shot(service: Service) -> bool:
    return str(service.get("restart", "no")) == "no"


def bots(compose: Compose) -> dict[str, Service]:
    return {n: s for n, s in alpha_services(compose).items() if run_verb(s) == "bot"}


def is_collector(service: Service) -> bool:
    """``alpha data collect …``: a long-running service that is not an ``alpha run`` verb."""
    return command(service)[:2] == ["data", "collect"]


def collectors(compose: Compose) -> dict[str, Service]:
    return {n: s for n, s in alpha_services(compose).items() if is_collector(s)}


def collected(service: Service) -> tuple[list[str], list[str]]:
    """A collector's symbols and intervals, as collected by default (``${VAR:-x}`` → x)."""
    cmd = command(service)
    symbols = _default(cmd[2]) if len(cmd) > 2 else ""
    intervals = _default(cmd[cmd.index("--interval") + 1]) if "--interval" in cmd[:-1] else ""
    split = lambda text: [part for part in text.split(",") if part]  # noqa: E731
    return split(symbols), split(intervals)


def pooled_services(compose: Compose) -> dict[str, Service]:
    """Long-running app services that must reach PostgreSQL through PgBouncer."""
    return {
        name: svc
        for name, svc in alpha_services(compose).items()
        if (
            run_verb(svc) is not None
            and run_verb(svc) not in DIRECT_RUN_VERBS | NO_DATABASE_RUN_VERBS
        )
        or is_collector(svc)
    }


_REGISTER = re.compile(r"\bregister\s+([a-z][a-z0-9_]+)\b([^\n]*)")


def registrations(compose: Compose) -> dict[str, dict[str, str]]:
    """``bots register BOT_ID --flag value …`` lines of the bootstrap one-shots."""
    found: dict[str, dict[str, str]] = {}
    for svc in alpha_services(compose).values():
        text = (
            " ".join(command(svc))
            if not isinstance(svc.get("command"), list)
            else "\n".join(svc["command"])
        )
        if "bots register" not in text:
            continue
        text = re.sub(r"\\\n\s*", " ", text)  # shell line continuations
        for bot_id, rest in _REGISTER.findall(text):
            flags = re.findall(r"--([a-z-]+)\s+([^\s-][^\s]*)", rest)
            found[bot_id] = {flag: _default(value) for flag, value in flags}
    return found


def _default(value: str) -> str:
    """A flag's value as registered by default: quotes dropped, ``${VAR:-x}`` → ``x``."""
    value = value.strip('"')
    interpolated = re.fullmatch(r"\$\{\w+:-([^}]*)\}", value)
    return interpolated.group(1) if interpolated else value
