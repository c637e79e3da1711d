"""The production compose file turned into Swarm stack files (``docker stack deploy``).

``docker stack deploy`` reads the compose-file format 3.x and refuses or ignores what
only Compose knows, so each service is translated rather than copied:

- ``depends_on`` goes: Swarm starts everything at once. The one-shots (migrate,
  bootstrap) restart on failure until what they need answers; long-running services
  restart (condition ``any``) until theirs does, and are replaced when unhealthy.
- Every secret the production file interpolates from ``.env`` becomes a Swarm secret
  (external: the operator creates it), read through the setting's ``*_FILE`` twin. An
  environment value built from several secrets (the paper exchange's accounts) becomes
  one secret of its own. Optional secrets (``${VAR:-}``) stay environment variables:
  Swarm cannot hold an empty secret.
- Bind mounts of this repository's config directories become Swarm configs, one per
  file: a bind mount would need the checkout on every node.
- ``restart`` becomes ``deploy.restart_policy``; ``tmpfs`` and ``shm_size`` become tmpfs
  mounts; ``build``, ``profiles``, ``container_name``, ``security_opt`` (Swarm has no
  no-new-privileges) and published ports (Swarm cannot bind 127.0.0.1; the API is
  reached over the attachable backend network) are dropped.
- Services with state on a node-local named volume (PostgreSQL, Redis, backups, the
  monitoring data) are pinned to nodes labelled ``alpha.data=true``; everything else,
  the listener included, may run on any node.
- Each service is reached at its task's address (``endpoint_mode: dnsrr``), not a
  virtual IP.
- Profiles become files: ``paper.yml`` and ``monitoring.yml`` are added with ``-c``.

Non-secret ``${VAR:-default}`` interpolation is kept: ``docker stack deploy`` fills it
in from the shell's environment (it does not read ``.env``).
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from deploy import compose_file

#: Files in a directory compose mounts that no container reads: Kubernetes' list of the
#: files it turns into a ConfigMap (deploy/pgbouncer, deploy/redis). Swarm gets no config
#: for them.
NOT_MOUNTED = frozenset({"kustomization.yaml"})
HERE = Path(__file__).resolve().parent
ROOT = compose_file.ROOT
STACK_VERSION = "3.8"
#: File name → the compose profile whose services it holds ("" : no profile).
FILES = {"stack.yml": "", "paper.yml": "paper", "monitoring.yml": "monitoring"}
#: Named volumes whose data lives on one node: their services stay on that node.
NODE_LOCAL_VOLUMES = {"pgdata", "redisdata", "backups", "prometheus_data", "grafana_data"}
DATA_NODE_CONSTRAINT = "node.labels.alpha.data == true"
#: A variable holding one of these is a secret.
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|API_KEY|TOKEN)$")
#: ``${VAR}``, ``${VAR:-default}``, ``${VAR:?message}``; ``$${`` is an escaped dollar.
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}")
#: Service keys passed through unchanged (all of them mean the same to Swarm).
KEPT = (
    "image",
    "entrypoint",
    "command",
    "user",
    "init",
    "read_only",
    "cap_drop",
    "stop_grace_period",
    "logging",
    "healthcheck",
)
#: Keys Swarm refuses or ignores, dropped on purpose (the module docstring says why).
DROPPED = {
    "build",
    "profiles",
    "depends_on",
    "container_name",
    "security_opt",
    "ports",
    "restart",
    "tmpfs",
    "shm_size",
    "env_file",
    "environment",
    "volumes",
    "networks",
    "deploy",
} - set(KEPT)
RESTART_DELAY = "5s"


def secret_name(var: str) -> str:
    """The Swarm secret holding ``.env`` variable ``var`` (``ALPHA_DB_APP_PASSWORD`` →
    ``alpha_db_app_password``)."""
    return var.lower()


def secret_refs(value: str) -> list[tuple[str, str]]:
    """The secret variables ``value`` interpolates: (name, what follows it)."""
    return [(m[1], m[2] or "") for m in INTERPOLATION.finditer(value) if SECRET_NAME.search(m[1])]


def secret_for(env_name: str, value: str) -> str | None:
    """The secret an environment entry becomes, or None when it stays as it is."""
    refs = secret_refs(value)
    if not refs or all(rest.startswith(":-") for _, rest in refs):
        return None
    whole = INTERPOLATION.fullmatch(value.strip())
    if whole and len(refs) == 1:
        return secret_name(refs[0][0])
    # Several secrets in one value: the whole value is one secret.
    return secret_name(env_name)


def secret_templates(compose: Mapping[str, Any]) -> dict[str, str]:
    """Every Swarm secret the stack files use → the production file's value for it (a
    ``${VAR}`` template the deployer fills in from its ``.env``)."""
    out: dict[str, str] = {}
    for service in compose["services"].values():
        for name, value in compose_file.environment(service).items():
            secret = secret_for(name, value)
            if secret is not None:
                out[secret] = " ".join(value.split())  # a folded YAML value, one line
    return out


def render_secret(template: str, variables: Mapping[str, str]) -> str:
    """A secret's value: the template's ``${VAR…}`` replaced by the variables."""
    return INTERPOLATION.sub(lambda m: variables[m[1]], template)


def _file_var_in_shell(text: str, converted: set[str]) -> str:
    """``$$VAR`` in a shell string whose VAR became ``VAR_FILE``: read the file instead."""
    for var in converted:
        text = re.sub(rf"\$\${var}\b", f'$$(cat "$${var}_FILE")', text)
    return text


def _shell_rewrite(value: Any, converted: set[str]) -> Any:
    if isinstance(value, str):
        return _file_var_in_shell(value, converted)
    if isinstance(value, list):
        return [_shell_rewrite(v, converted) for v in value]
    if isinstance(value, dict):
        return {k: _shell_rewrite(v, converted) for k, v in value.items()}
    return value


def config_name(source_dir: str, path: Path) -> str:
    """A short, stable Swarm config name for one file of a mounted directory."""
    rel = path.relative_to(ROOT / source_dir).as_posix()
    stem = Path(source_dir).name + "_" + re.sub(r"[^A-Za-z0-9]+", "_", rel)
    return stem.strip("_").lower()


def file_var(var: str) -> str:
    """The variable naming the file that holds ``var``'s value: Grafana's convention is
    ``GF_…__FILE``; Alpha's, PgBouncer's, Redis's and PostgreSQL's ``…_FILE``."""
    return f"{var}__FILE" if var.startswith("GF_") else f"{var}_FILE"


def _read_from_secrets(text: str, converted: Mapping[str, str]) -> str:
    """A provisioning file's ``${VAR}`` for a VAR that became a secret, as Grafana's
    ``$__file{…}`` of that secret."""
    for var, secret in converted.items():
        text = text.replace(f"${{{var}}}", f"$__file{{/run/secrets/{secret}}}")
    return text


def _mounts(
    volumes: list[Any],
    configs: dict[str, dict[str, str]],
    converted: Mapping[str, str],
    derived: dict[str, str],
) -> tuple[list[Any], list[dict[str, str]], set[str]]:
    """(volume mounts kept, configs replacing the bind mounts, named volumes used). A
    mounted file that reads a converted variable is rewritten into ``derived``."""
    kept: list[Any] = []
    service_configs: list[dict[str, str]] = []
    named: set[str] = set()
    for entry in volumes:
        source, target = str(entry).split(":")[:2]
        if source.startswith("./"):
            directory = ROOT / source[2:]
            for path in sorted(
                p for p in directory.rglob("*") if p.is_file() and p.name not in NOT_MOUNTED
            ):
                name = config_name(source[2:], path)
                configs[name] = {"file": "../../" + path.relative_to(ROOT).as_posix()}
                text = path.read_text(encoding="utf-8")
                if _read_from_secrets(text, converted) != text:
                    own = "configs/" + path.relative_to(ROOT / "deploy").as_posix()
                    derived[own] = _read_from_secrets(text, converted)
                    configs[name] = {"file": own}
                rel = path.relative_to(directory).as_posix()
                service_configs.append({"source": name, "target": f"{target}/{rel}"})
        else:
            kept.append(entry)
            named.add(source)
    return kept, service_configs, named


def service(
    name: str,
    prod: Mapping[str, Any],
    secrets: set[str],
    configs: dict[str, dict[str, str]],
    derived: dict[str, str],
) -> dict[str, Any]:
    """One production service as a Swarm service (see the module docstring)."""
    unknown = set(prod) - set(KEPT) - DROPPED
    if unknown:
        raise ValueError(f"{name}: no Swarm translation for {sorted(unknown)}")
    out: dict[str, Any] = {k: copy.deepcopy(prod[k]) for k in KEPT if k in prod}
    if "env_file" in prod:
        # Relative to the stack file (deploy/swarm/), as docker stack deploy reads it.
        out["env_file"] = ["../../" + str(p) for p in prod["env_file"]]
    environment: dict[str, str] = {}
    own_secrets: list[str] = []
    converted: dict[str, str] = {}  # variable → its secret
    for var, value in compose_file.environment(prod).items():
        secret = secret_for(var, value)
        if secret is None:
            environment[var] = value
            continue
        environment[file_var(var)] = f"/run/secrets/{secret}"
        converted[var] = secret
        if secret not in own_secrets:
            own_secrets.append(secret)
    if environment:
        out["environment"] = environment
    if own_secrets:
        out["secrets"] = own_secrets
        secrets.update(own_secrets)
    for key in ("healthcheck", "command", "entrypoint"):
        if key in out:
            out[key] = _shell_rewrite(out[key], set(converted))
    volumes, service_configs, named = _mounts(
        list(prod.get("volumes") or []), configs, converted, derived
    )
    volumes += [{"type": "tmpfs", "target": t} for t in prod.get("tmpfs") or []]
    if "shm_size" in prod:
        volumes.append(
            {
                "type": "tmpfs",
                "target": "/dev/shm",
                "tmpfs": {"size": _bytes(str(prod["shm_size"]))},
            }
        )
    if volumes:
        out["volumes"] = volumes
    if service_configs:
        out["configs"] = service_configs
    if "networks" in prod:
        out["networks"] = copy.deepcopy(prod["networks"])
    deploy = copy.deepcopy(dict(prod.get("deploy") or {}))
    deploy["mode"] = "replicated"
    deploy["replicas"] = 1
    one_shot = str(prod.get("restart", "")) == "no"
    deploy["restart_policy"] = {
        "condition": "on-failure" if one_shot else "any",
        "delay": RESTART_DELAY,
    }
    # Never two of a singleton at once (two listeners would both write fills).
    deploy["update_config"] = {"order": "stop-first"}
    # One replica: a virtual IP would balance nothing, and it needs IPVS in every node's
    # kernel (this machine has none: connections to a VIP were reset). The service name
    # resolves to the task's own address; every client resolves it again on reconnect.
    deploy["endpoint_mode"] = "dnsrr"
    if named & NODE_LOCAL_VOLUMES:
        deploy["placement"] = {"constraints": [DATA_NODE_CONSTRAINT]}
    out["deploy"] = deploy
    return out


def _bytes(size: str) -> int:
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    size = size.strip().lower().rstrip("b")
    return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)


def _profile(prod: Mapping[str, Any]) -> str:
    profiles = prod.get("profiles") or [""]
    return str(profiles[0])


def stack_files(
    compose: Mapping[str, Any], derived: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """File name → the stack file's content; ``derived`` receives the config files
    rewritten for Swarm (path under deploy/swarm/ → text)."""
    derived = {} if derived is None else derived
    files: dict[str, dict[str, Any]] = {}
    for file_name, profile in FILES.items():
        secrets: set[str] = set()
        configs: dict[str, dict[str, str]] = {}
        services = {
            name: service(name, prod, secrets, configs, derived)
            for name, prod in compose["services"].items()
            if _profile(prod) == profile
        }
        used = {n for s in services.values() for n in (s.get("networks") or [])}
        networks = {}
        for net in sorted(used):
            spec = dict(compose["networks"].get(net) or {})
            # Overlay networks span the nodes; attachable lets `docker run --network`
            # (a one-off `alpha` command, a debugging shell) join them.
            networks[net] = {"driver": "overlay", "attachable": True, **spec}
        volumes = sorted(
            {
                str(v).split(":")[0]
                for s in services.values()
                for v in (s.get("volumes") or [])
                if isinstance(v, str)
            }
        )
        content: dict[str, Any] = {
            "version": STACK_VERSION,
            "services": services,
            "networks": networks,
        }
        if volumes:
            content["volumes"] = {v: {} for v in volumes}
        if secrets:
            content["secrets"] = {s: {"external": True} for s in sorted(secrets)}
        if configs:
            content["configs"] = dict(sorted(configs.items()))
        files[file_name] = content
    return files


HEADER = """\
# GENERATED from docker-compose.production.yml by `python -m deploy.swarm.generate`:
# edit the compose file and regenerate (tests/deploy/test_swarm_stack.py compares them).
# Deploy: deploy/README.md#docker-swarm.
"""


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the bootstrap's script) as literal blocks, readable."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def render(content: Mapping[str, Any]) -> str:
    body = yaml.dump(
        dict(content), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100
    )
    return HEADER + body


def generated() -> dict[str, str]:
    """Every file the generator owns under deploy/swarm/ → its text."""
    derived: dict[str, str] = {}
    files = {name: render(c) for name, c in stack_files(compose_file.load(), derived).items()}
    return files | derived


def write(directory: Path = HERE) -> list[Path]:
    written = []
    for name, text in generated().items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.swarm.generate", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a stack file differs from what would be written",
    )
    parser.add_argument(
        "--secrets",
        action="store_true",
        help="list each Swarm secret and the .env value it holds, then exit",
    )
    args = parser.parse_args(argv)
    if args.secrets:
        for name, template in sorted(secret_templates(compose_file.load()).items()):
            print(f"{name}\t{template}")
        return 0
    if args.check:
        stale = [
            n
            for n, text in generated().items()
            if not (HERE / n).is_file() or (HERE / n).read_text(encoding="utf-8") != text
        ]
        for name in stale:
            print(f"deploy/swarm/{name} is stale: run python -m deploy.swarm.generate")
        return 1 if stale else 0
    for path in write():
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
