"""Checks that ``deploy/kubernetes/`` runs what ``docker-compose.production.yml`` runs.

The two descriptions of the same topology must not drift apart silently: every compose
service has a pod (label ``alpha/compose-service``) with the same image, command,
environment variable names and values (a ``${VAR:?}`` secret becomes a reference to the
key VAR of the Secret named in SECRETS), memory limit, health check (as its readiness
probe), networks (as labels the NetworkPolicies select on), volumes and start-up
dependencies (as init containers). Each check returns a list of problems, each naming
the service and what differs; an empty list means it passed. The tests run them on the
real files and on broken copies. ``main`` also runs the layout, name and Secret-command
checks of ``deploy/kubernetes_layout.py``.

    python -m deploy.kubernetes_check
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from deploy import compose_file
from deploy.compose_file import Compose, duration_seconds, environment
from deploy.kubernetes_layout import (
    README,
    check_kustomization,
    check_layout,
    check_names,
    check_secret_docs,
)
from deploy.kubernetes_manifests import (
    KUBERNETES,
    KUSTOMIZATIONS,
    Manifest,
    all_containers,
    container_port,
    main_container,
    manifests,
    network_labels,
    pods,
    wait_targets,
)

Pods = Mapping[str, tuple[Manifest, Mapping[str, Any]]]

#: Which Secret holds a compose variable (the operator creates them: deploy/README.md).
SECRETS: dict[str, Callable[[str], bool]] = {
    "alpha-postgres": lambda key: key == "POSTGRES_PASSWORD" or key.startswith("ALPHA_DB_"),
    "alpha-redis": lambda key: key.startswith("REDIS_") or key.endswith("_REDIS_PASSWORD"),
    "alpha-exchange-keys": lambda key: key.endswith(("_API_KEY", "_API_SECRET")),
    "alpha-telegram": lambda key: key.startswith("C2_TELEGRAM_") or key == "NOTIFY_URLS",
    "alpha-grafana": lambda key: key == "GRAFANA_ADMIN_PASSWORD",
}
#: ``${VAR:-}`` variables that are optional keys of a Secret rather than literal values
#: (the notification URLs carry tokens; the viewer ids sit beside the admin ids).
OPTIONAL_SECRET_KEYS = {"NOTIFY_URLS", "C2_TELEGRAM_VIEWER_IDS"}
#: Variables only the Kubernetes pod has, and why.
EXTRA_ENV = {
    # The root of a fresh volume holds lost+found; initdb needs an empty directory.
    "postgres": {"PGDATA"},
}
#: Compose dependency -> what the pod's init container waits for. migrate and bootstrap
#: (Jobs) are not waited on: PgBouncer is ready only once migrate created the roles, and
#: a bot that is not registered yet exits and is restarted.
WAIT_TARGETS = {
    "postgres": "tcp://postgres:5432",
    "pgbouncer": "tcp://pgbouncer:6432",
    "redis": "tcp://redis:6379",
    "websocket_listener": "http://websocket-listener:9100/healthz",
}
#: Services whose compose dependencies are not waited on in Kubernetes, and why.
WAIT_EXEMPT = {
    # Starts without PostgreSQL and connects on first use; its readiness probe logs in
    # through to PostgreSQL, so nothing is routed to it before the roles exist.
    "pgbouncer",
    # Retries its datasources by itself; nothing depends on it.
    "grafana",
}
#: Compose volume mounts a pod does not have, and why.
VOLUME_EXEMPT = {
    # A ReadWriteOnce volume is attached to the backup pod; restores run in a pod of
    # their own (deploy/README.md#kubernetes).
    ("migrate", "/backups"),
}

_DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")
_REQUIRED = re.compile(r"\$\{(\w+):?\?[^}]*\}")


def secret_for(key: str) -> str | None:
    return next((name for name, holds in SECRETS.items() if holds(key)), None)


def compose_value(text: str) -> str:
    """A compose string as the container sees it by default: ``${V:-x}`` -> x, ``$$`` -> $."""
    return _DEFAULT.sub(lambda m: m.group(2), text).replace("$$", "$")


def _duration(text: str | None) -> int:
    """Whole seconds of a compose duration; 0 when absent (compose's checks report a
    malformed one)."""
    try:
        return int(duration_seconds(text)) if text else 0
    except ValueError:
        return 0


def _bytes(text: str) -> int:
    match = re.fullmatch(r"(\d+)([KMG]i?|[kmg]b?|[KMG]B?)?", str(text))
    if not match:
        raise ValueError(f"unknown memory quantity {text!r}")
    unit = (match.group(2) or "").upper().rstrip("IB")
    return int(match.group(1)) * 1024 ** {"": 0, "K": 1, "M": 2, "G": 3}[unit]


# --- the checks ------------------------------------------------------------------------


def check_services(compose: Compose, found: Pods) -> list[str]:
    wanted = set(compose["services"])
    problems = [
        f"{name}: no Kubernetes workload (label alpha/compose-service)"
        for name in sorted(wanted - set(found))
    ]
    problems += [
        f"{name}: a Kubernetes workload for a service compose does not have"
        for name in sorted(set(found) - wanted)
    ]
    return problems


def check_images_and_commands(compose: Compose, found: Pods) -> list[str]:
    problems = []
    for name, svc in compose["services"].items():
        if name not in found:
            continue
        container = main_container(found[name][1])
        image = compose_value(str(svc.get("image")))
        if container.get("image") != image:
            problems.append(f"{name}: image {container.get('image')!r}, compose runs {image!r}")
        for compose_key, k8s_key in (("command", "args"), ("entrypoint", "command")):
            expected = [compose_value(part) for part in svc.get(compose_key) or []]
            actual = list(container.get(k8s_key) or [])
            if expected != actual:
                problems.append(
                    f"{name}: {k8s_key} {actual!r}, compose's {compose_key} is {expected!r}"
                )
    return problems


def _expected_value(value: str) -> tuple[str, str, bool] | str:
    """('secret', KEY, optional) for a secret reference, else the literal value."""
    required = _REQUIRED.fullmatch(value)
    if required:
        return ("secret", required.group(1), False)
    default = _DEFAULT.fullmatch(value)
    if default and default.group(1) in OPTIONAL_SECRET_KEYS:
        return ("secret", default.group(1), True)
    # Kubernetes expands $(VAR) from the variables defined before it.
    return _REQUIRED.sub(lambda m: f"$({m.group(1)})", compose_value(value))


def check_environment(compose: Compose, found: Pods) -> list[str]:
    problems = []
    for name, svc in compose["services"].items():
        if name not in found:
            continue
        container = main_container(found[name][1])
        actual = {entry["name"]: entry for entry in container.get("env") or []}
        referenced: set[str] = set()
        for var, value in environment(svc).items():
            entry = actual.get(var)
            if entry is None:
                problems.append(f"{name}: {var} is not set (compose sets it)")
                continue
            expected = _expected_value(value)
            if isinstance(expected, str):
                referenced.update(re.findall(r"\$\((\w+)\)", expected))
                if entry.get("value") != expected:
                    problems.append(
                        f"{name}: {var}={entry.get('value')!r}, compose has {expected!r}"
                    )
                continue
            _, key, optional = expected
            ref = (entry.get("valueFrom") or {}).get("secretKeyRef") or {}
            want = {"name": secret_for(key), "key": key}
            if {"name": ref.get("name"), "key": ref.get("key")} != want:
                problems.append(
                    f"{name}: {var} must come from Secret {want['name']} key {key}, "
                    f"not {ref or entry}"
                )
            elif bool(ref.get("optional")) != optional:
                problems.append(
                    f"{name}: {var}: the Secret key {key} optional={optional} as in compose"
                )
        for var in referenced:  # the $(VAR) helpers must be those secret keys themselves
            ref = (actual.get(var, {}).get("valueFrom") or {}).get("secretKeyRef") or {}
            if ref.get("key") != var or ref.get("name") != secret_for(var):
                problems.append(
                    f"{name}: $({var}) must be the key {var} of Secret {secret_for(var)}"
                )
        extra = set(actual) - set(environment(svc)) - referenced - EXTRA_ENV.get(name, set())
        problems += [f"{name}: {var} is set but compose does not set it" for var in sorted(extra)]
        wants_exchange = bool(svc.get("env_file"))
        has_exchange = any(
            (source.get("configMapRef") or {}).get("name") == "alpha-exchange"
            for source in container.get("envFrom") or []
        )
        if wants_exchange != has_exchange:
            problems.append(
                f"{name}: envFrom alpha-exchange must mirror compose's env_file (deploy/exchange/)"
            )
    return problems


def check_memory(compose: Compose, found: Pods) -> list[str]:
    problems = []
    for name, svc in compose["services"].items():
        if name not in found:
            continue
        limit = (((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}).get(
            "memory"
        )
        actual = ((main_container(found[name][1]).get("resources") or {}).get("limits") or {}).get(
            "memory"
        )
        if limit is None or actual is None or _bytes(limit) != _bytes(actual):
            problems.append(f"{name}: memory limit {actual!r}, compose has {limit!r}")
    return problems


def _probe_from_healthcheck(
    healthcheck: Mapping[str, Any], container: Mapping[str, Any]
) -> dict[str, Any]:
    """What compose's healthcheck test becomes: an httpGet for a URL fetch, else exec."""
    test = [str(part) for part in healthcheck["test"]]
    url = re.search(r"http://127\.0\.0\.1:(%s|\d+)(/[^'\" ]*)", " ".join(test))
    if url:
        port = url.group(1)
        if port == "%s":  # the app's health port: ALPHA_HTTP_PORT
            env = {e["name"]: e.get("value") for e in container.get("env") or []}
            port = env.get("ALPHA_HTTP_PORT") or "9100"
        return {"httpGet": (url.group(2), int(port))}
    if test[0] == "CMD-SHELL":
        return {"exec": ["sh", "-c", test[1].replace("$$", "$")]}
    return {"exec": [part.replace("$$", "$") for part in test[1:]]}


def check_probes(compose: Compose, found: Pods) -> list[str]:
    problems = []
    for name, svc in compose["services"].items():
        if name not in found:
            continue
        container = main_container(found[name][1])
        healthcheck = svc.get("healthcheck") or {}
        readiness = container.get("readinessProbe")
        if not healthcheck or healthcheck.get("disable"):
            if readiness or container.get("livenessProbe"):
                problems.append(f"{name}: compose has no healthcheck, the pod has probes")
            continue
        if not readiness:
            problems.append(f"{name}: no readinessProbe for compose's healthcheck")
            continue
        expected = _probe_from_healthcheck(healthcheck, container)
        if "httpGet" in expected:
            get = readiness.get("httpGet") or {}
            actual: Any = (get.get("path"), container_port(container, get.get("port", 0)))
            want: Any = expected["httpGet"]
        else:
            actual, want = (readiness.get("exec") or {}).get("command"), expected["exec"]
        if actual != want:
            problems.append(
                f"{name}: readinessProbe checks {actual!r}, compose's healthcheck {want!r}"
            )
        timings = {
            "periodSeconds": _duration(healthcheck.get("interval")) or 30,
            "timeoutSeconds": _duration(healthcheck.get("timeout")) or 30,
            "failureThreshold": int(healthcheck.get("retries", 3)),
        }
        for field, value in timings.items():
            if readiness.get(field) != value:
                problems.append(
                    f"{name}: readinessProbe {field}={readiness.get(field)}, "
                    f"compose's healthcheck {value}"
                )
        start = _duration(healthcheck.get("start_period"))
        startup = container.get("startupProbe")
        if start and (
            not startup or startup["periodSeconds"] * startup["failureThreshold"] < start
        ):
            problems.append(f"{name}: a startupProbe must allow compose's start_period of {start}s")
        if not container.get("livenessProbe"):
            problems.append(f"{name}: no livenessProbe")
    return problems


def check_networks(compose: Compose, found: Pods) -> list[str]:
    problems = []
    for name, svc in compose["services"].items():
        if name not in found:
            continue
        networks = svc.get("networks") or ["default"]
        wanted = set(networks if isinstance(networks, list) else networks.keys())
        actual = network_labels(found[name][1])
        if wanted != actual:
            problems.append(
                f"{name}: on networks {sorted(actual)} in Kubernetes, {sorted(wanted)} in compose"
            )
    return problems


def check_network_policies(compose: Compose, found: list[Manifest]) -> list[str]:
    """Deny by default; compose's internal networks have no route out, the others do."""
    policies = {m.name: m.doc["spec"] for m in found if m.kind == "NetworkPolicy"}
    problems = []
    deny = policies.get("default-deny")
    if (
        not deny
        or deny.get("podSelector") != {}
        or set(deny.get("policyTypes", [])) != {"Ingress", "Egress"}
        or deny.get("ingress")
        or deny.get("egress")
    ):
        problems.append("default-deny: must select every pod and allow nothing, both directions")
    for network, config in (compose.get("networks") or {}).items():
        label = f"networks.alpha/{network}"
        selecting = [
            spec
            for spec in policies.values()
            if (spec.get("podSelector") or {}).get("matchLabels") == {label: "true"}
        ]
        if len(selecting) != 1:
            problems.append(f"{network}: one NetworkPolicy must select pods labelled {label}")
            continue
        rules = selecting[0].get("egress") or []
        external = any("ipBlock" in peer for rule in rules for peer in rule.get("to") or [])
        if bool((config or {}).get("internal")) == external:
            problems.append(
                f"{network}: compose internal={bool((config or {}).get('internal'))}, "
                f"policy route out={external}"
            )
    for name, spec in policies.items():
        for rule in spec.get("ingress") or []:
            if any(
                "ipBlock" in peer or "namespaceSelector" in peer for peer in rule.get("from") or []
            ):
                problems.append(
                    f"{name}: admits traffic from outside the namespace "
                    "(compose publishes loopback only)"
                )
    return problems


def check_exposure(found: list[Manifest]) -> list[str]:
    problems = [
        f"{m.kind}/{m.name}: nothing is exposed outside the cluster"
        for m in found
        if m.kind in ("Ingress", "Gateway", "HTTPRoute")
    ]
    for manifest in found:
        if (
            manifest.kind == "Service"
            and manifest.doc["spec"].get("type", "ClusterIP") != "ClusterIP"
        ):
            problems.append(
                f"Service/{manifest.name}: type {manifest.doc['spec']['type']}; "
                "compose binds loopback only (use port-forward)"
            )
    return problems


def check_waits(compose: Compose, found: Pods) -> list[str]:
    problems = []
    for name, svc in compose["services"].items():
        if name not in found or name in WAIT_EXEMPT:
            continue
        targets = set(wait_targets(found[name][1]))
        for dependency in svc.get("depends_on") or {}:
            target = WAIT_TARGETS.get(dependency)
            if target and target not in targets:
                problems.append(
                    f"{name}: compose waits for {dependency}; no init container waits for {target}"
                )
    return problems


def _mounts(template: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
    """Mount path -> (what backs it: pvc:NAME, configMap:NAME, emptyDir, claim:NAME; read-only)."""
    spec = template["spec"]
    volumes = {}
    for volume in spec.get("volumes") or []:
        if "persistentVolumeClaim" in volume:
            volumes[volume["name"]] = "pvc"
        elif "configMap" in volume:
            volumes[volume["name"]] = "configMap"
        else:
            volumes[volume["name"]] = "emptyDir" if "emptyDir" in volume else "other"
    container = main_container(template)
    return {
        mount["mountPath"]: (volumes.get(mount["name"], "pvc"), bool(mount.get("readOnly")))
        for mount in container.get("volumeMounts") or []
    }


def check_volumes(compose: Compose, found: Pods) -> list[str]:
    problems = []
    for name, svc in compose["services"].items():
        if name not in found:
            continue
        mounts = _mounts(found[name][1])
        for entry in svc.get("volumes") or []:
            source, target, *options = str(entry).split(":")
            if (name, target) in VOLUME_EXEMPT:
                continue
            want = "configMap" if source.startswith(".") else "pvc"
            read_only = "ro" in options
            # A directory compose mounts whole may be mounted one subdirectory per ConfigMap.
            below = {mounts[path] for path in mounts if path.startswith(target + "/")}
            if mounts.get(target) != (want, read_only) and below != {(want, read_only)}:
                problems.append(
                    f"{name}: {target} must be a {want} mount (read-only={read_only}) "
                    f"as compose's {source}"
                )
        for path in svc.get("tmpfs") or []:
            if (mounts.get(path) or ("",))[0] != "emptyDir":
                problems.append(f"{name}: {path} must be an emptyDir (compose's tmpfs)")
    return problems


def check_singletons(found: list[Manifest], image: str) -> list[str]:
    """Every Alpha process runs once: one replica, and a rollout never overlaps two."""
    problems = []
    for manifest in found:
        if manifest.kind != "Deployment":
            continue
        template = manifest.doc["spec"]["template"]
        if main_container(template).get("image") != image:
            continue
        spec = manifest.doc["spec"]
        if spec.get("replicas") != 1 or (spec.get("strategy") or {}).get("type") != "Recreate":
            problems.append(f"Deployment/{manifest.name}: must be replicas 1, strategy Recreate")
    return problems


def check_hardening(compose: Compose, found: Pods) -> list[str]:
    """Compose's read_only, cap_drop ALL, no-new-privileges and non-root, for every pod."""
    problems = []
    hardened = set(compose_file.alpha_services(compose))
    for name, (_, template) in found.items():
        spec = template["spec"]
        pod_security = spec.get("securityContext") or {}
        if not pod_security.get("runAsNonRoot") or not pod_security.get("runAsUser"):
            problems.append(f"{name}: the pod must run as a non-root uid (runAsNonRoot, runAsUser)")
        if (pod_security.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccompProfile RuntimeDefault")
        if (
            spec.get("automountServiceAccountToken") is not False
            or spec.get("enableServiceLinks") is not False
        ):
            problems.append(
                f"{name}: automountServiceAccountToken and enableServiceLinks must be false"
            )
        if name in hardened and pod_security.get("runAsUser") != 10001:
            problems.append(f"{name}: the Alpha image runs as uid 10001")
        for container in all_containers(template):
            security = container.get("securityContext") or {}
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(
                    f"{name}/{container['name']}: "
                    "allowPrivilegeEscalation false (no-new-privileges)"
                )
            if (security.get("capabilities") or {}).get("drop") != ["ALL"]:
                problems.append(f"{name}/{container['name']}: capabilities drop ALL")
            if name in hardened and security.get("readOnlyRootFilesystem") is not True:
                problems.append(
                    f"{name}/{container['name']}: readOnlyRootFilesystem (compose read_only)"
                )
    return problems


def check_all(compose: Compose, found: list[Manifest], root: Path = KUBERNETES) -> list[str]:
    by_service = pods(found)
    image = compose_value(str(compose_file.alpha_image(compose)))
    problems: list[str] = []
    for check in (
        check_services,
        check_images_and_commands,
        check_environment,
        check_memory,
        check_probes,
        check_networks,
        check_waits,
        check_volumes,
        check_hardening,
    ):
        problems += check(compose, by_service)
    problems += check_network_policies(compose, found)
    problems += check_exposure(found)
    problems += check_names(found)
    problems += check_singletons(found, image)
    problems += check_layout(root)
    for directory in KUSTOMIZATIONS:
        problems += check_kustomization(root / directory, root)
    return problems


def main() -> int:
    found = manifests()
    problems = check_all(compose_file.load(), found)
    problems += check_secret_docs(README.read_text(encoding="utf-8"), found)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
