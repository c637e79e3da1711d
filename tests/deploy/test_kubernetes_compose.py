"""deploy/kubernetes/ runs what docker-compose.production.yml runs, and lists its files.

Each rule of ``deploy/kubernetes_check.py`` passes on the real files and fails on a
deliberately broken copy (of the manifests, of the compose file, of the kustomization
directory, of the README's Secret commands) with a problem naming what differs, so
neither description can drift from the other silently.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from deploy import compose_file, kubernetes_files
from deploy.kubernetes_check import check_all
from deploy.kubernetes_layout import README, check_kustomization, check_layout, check_secret_docs
from deploy.kubernetes_manifests import KUBERNETES, KUSTOMIZATIONS, Manifest, manifests

Docs = list[Manifest]


def real() -> tuple[dict[str, Any], Docs]:
    return compose_file.load(), [Manifest(m.path, copy.deepcopy(m.doc)) for m in manifests()]


def test_the_real_files_agree() -> None:
    compose, found = real()
    assert check_all(compose, found) == []
    assert check_secret_docs(README.read_text(encoding="utf-8"), found) == []


def test_every_compose_service_has_a_workload() -> None:
    compose, found = real()
    labelled = {
        m.doc["spec"]["template"]["metadata"]["labels"]["alpha/compose-service"]
        for m in found
        if m.kind in ("Deployment", "StatefulSet", "Job")
    }
    assert labelled == set(compose["services"])
    assert len(labelled) == 18  # a dropped service would leave a smaller set


# --- broken copies of the manifests ------------------------------------------------------


def workload(found: Docs, name: str) -> dict[str, Any]:
    for m in found:
        if m.kind in ("Deployment", "StatefulSet", "Job") and m.name == name:
            return m.doc
    raise AssertionError(name)


def container(found: Docs, name: str) -> dict[str, Any]:
    main: dict[str, Any] = workload(found, name)["spec"]["template"]["spec"]["containers"][0]
    return main


def env(found: Docs, name: str, var: str) -> dict[str, Any]:
    return next(e for e in container(found, name)["env"] if e["name"] == var)


def policy(found: Docs, name: str) -> dict[str, Any]:
    return next(m.doc for m in found if m.kind == "NetworkPolicy" and m.name == name)


def drop(found: Docs, kind: str, name: str) -> None:
    found[:] = [m for m in found if not (m.kind == kind and m.name == name)]


BREAKAGES: dict[str, tuple[Callable[[Docs], None], str]] = {
    "a bot removed": (
        lambda f: drop(f, "Deployment", "momentum"),
        "momentum: no Kubernetes workload",
    ),
    "another image": (
        lambda f: container(f, "trade-sync").update(image="alpha-bots:old"),
        "trade_sync: image",
    ),
    "another command": (
        lambda f: container(f, "websocket-listener").update(args=["run", "c2"]),
        "websocket_listener: args",
    ),
    "bootstrap script edited": (
        lambda f: container(f, "bootstrap").update(
            args=[container(f, "bootstrap")["args"][0].replace("lxalgo_001", "lx")]
        ),
        "bootstrap: args",
    ),
    "a variable dropped": (
        lambda f: container(f, "shortseller")["env"].remove(env(f, "shortseller", "REDIS_DB")),
        "shortseller: REDIS_DB is not set",
    ),
    "a literal changed": (
        lambda f: env(f, "api", "ALPHA_HTTP_PORT").update(value="9100"),
        "api: ALPHA_HTTP_PORT",
    ),
    "a secret from the wrong key": (
        lambda f: env(f, "websocket-listener", "REDIS_PASSWORD")["valueFrom"][
            "secretKeyRef"
        ].update(key="REDIS_PASSWORD"),
        "websocket_listener: REDIS_PASSWORD must come from Secret alpha-redis "
        "key REDIS_LISTENER_PASSWORD",
    ),
    "a secret written in": (
        lambda f: env(f, "lxalgo", "BYBIT_API_SECRET").update(value="s3cret", valueFrom=None),
        "lxalgo: BYBIT_API_SECRET must come from Secret alpha-exchange-keys",
    ),
    "a variable compose does not set": (
        lambda f: container(f, "collector")["env"].append(
            {"name": "BOT_ID", "value": "lxalgo_001"}
        ),
        "collector: BOT_ID is set but compose does not set it",
    ),
    "no exchange env file": (
        lambda f: container(f, "telegram-c2").pop("envFrom"),
        "telegram_c2: envFrom alpha-exchange",
    ),
    "another memory limit": (
        lambda f: container(f, "orderblock")["resources"]["limits"].update(memory="1Gi"),
        "orderblock: memory limit",
    ),
    "a slower readiness probe": (
        lambda f: container(f, "redis")["readinessProbe"].update(periodSeconds=30),
        "redis: readinessProbe periodSeconds=30",
    ),
    "a readiness probe on another path": (
        lambda f: container(f, "collector")["readinessProbe"]["httpGet"].update(path="/metrics"),
        "collector: readinessProbe checks",
    ),
    "no start-up allowance": (
        lambda f: container(f, "backup").pop("startupProbe"),
        "backup: a startupProbe",
    ),
    "the api given egress": (
        lambda f: workload(f, "api")["spec"]["template"]["metadata"]["labels"].update(
            {"networks.alpha/egress": "true"}
        ),
        "api: on networks",
    ),
    "the backend given a way out": (
        lambda f: policy(f, "backend")["spec"]["egress"][0]["to"].append(
            {"ipBlock": {"cidr": "0.0.0.0/0"}}
        ),
        "backend: compose internal=True",
    ),
    "no default deny": (lambda f: drop(f, "NetworkPolicy", "default-deny"), "default-deny"),
    "the api published": (
        lambda f: next(m.doc for m in f if m.kind == "Service" and m.name == "api")["spec"].update(
            type="LoadBalancer"
        ),
        "Service/api: type LoadBalancer",
    ),
    "a bot not waiting for the listener": (
        lambda f: workload(f, "lxalgo")["spec"]["template"]["spec"]["initContainers"][0][
            "command"
        ].remove("http://websocket-listener:9100/healthz"),
        "lxalgo: compose waits for websocket_listener",
    ),
    "the spool not persistent": (
        lambda f: container(f, "websocket-listener")["volumeMounts"].pop(),
        "websocket_listener: /app/.run/spool must be a pvc mount",
    ),
    "two listeners": (
        lambda f: workload(f, "websocket-listener")["spec"].update(replicas=2),
        "Deployment/websocket-listener: must be replicas 1",
    ),
    "a rolling bot": (
        lambda f: workload(f, "shortseller")["spec"].update(strategy={"type": "RollingUpdate"}),
        "Deployment/shortseller: must be replicas 1, strategy Recreate",
    ),
    "a writable root": (
        lambda f: container(f, "api")["securityContext"].update(readOnlyRootFilesystem=False),
        "api/api: readOnlyRootFilesystem",
    ),
    "a capability kept": (
        lambda f: container(f, "pgbouncer")["securityContext"]["capabilities"].update(drop=[]),
        "pgbouncer/pgbouncer: capabilities drop ALL",
    ),
    "root": (
        lambda f: workload(f, "postgres")["spec"]["template"]["spec"]["securityContext"].update(
            runAsNonRoot=False
        ),
        "postgres: the pod must run as a non-root uid",
    ),
    "a compose name": (
        lambda f: next(m.doc for m in f if m.kind == "Service" and m.name == "trade-sync")[
            "metadata"
        ].update(name="trade_sync"),
        "Service/trade_sync: the name is not a DNS label",
    ),
    "a bad label value": (
        lambda f: workload(f, "api")["spec"]["template"]["metadata"]["labels"].update(
            {"networks.alpha/backend": "yes!"}
        ),
        "label networks.alpha/backend='yes!' is not a valid label",
    ),
    "a long port name": (
        lambda f: container(f, "pgbouncer")["ports"][0].update(name="pgbouncer-clients"),
        "port name 'pgbouncer-clients'",
    ),
    "service links": (
        lambda f: workload(f, "trade-sync")["spec"]["template"]["spec"].update(
            enableServiceLinks=True
        ),
        "trade_sync: automountServiceAccountToken and enableServiceLinks must be false",
    ),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_manifest_is_caught(breakage: str) -> None:
    compose, found = real()
    breaking, expected = BREAKAGES[breakage]
    breaking(found)
    problems = check_all(compose, found)
    assert any(expected in problem for problem in problems), problems


# --- broken copies of the compose file: a change there is caught too -------------------

COMPOSE_CHANGES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "a new service": (
        lambda c: c["services"].update(newbot=c["services"]["lxalgo"]),
        "newbot: no Kubernetes workload",
    ),
    "a new variable": (
        lambda c: c["services"]["trade_sync"]["environment"].update(SYNC_NEW_SECONDS="5"),
        "trade_sync: SYNC_NEW_SECONDS is not set",
    ),
    "a raised memory limit": (
        lambda c: c["services"]["redis"]["deploy"]["resources"]["limits"].update(memory="1G"),
        "redis: memory limit",
    ),
    "a new secret": (
        lambda c: c["services"]["api"]["environment"].update(
            ALPHA_DB_OWNER_PASSWORD="${ALPHA_DB_OWNER_PASSWORD:?}"
        ),
        "api: ALPHA_DB_OWNER_PASSWORD is not set",
    ),
    "a new dependency": (
        lambda c: c["services"]["collector"]["depends_on"].update(
            redis={"condition": "service_healthy"}
        ),
        "collector: compose waits for redis",
    ),
}


@pytest.mark.parametrize("change", COMPOSE_CHANGES)
def test_a_compose_change_not_mirrored_is_caught(change: str) -> None:
    compose, found = real()
    changing, expected = COMPOSE_CHANGES[change]
    changing(compose)
    problems = check_all(compose, found)
    assert any(expected in problem for problem in problems), problems


# --- the kustomizations list every file -------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of deploy/kubernetes/, beside the directories the base lists from outside it."""
    root = tmp_path / "deploy" / "kubernetes"
    shutil.copytree(KUBERNETES, root, ignore=shutil.ignore_patterns("__pycache__"))
    for beside in ("pgbouncer", "redis"):
        shutil.copytree(KUBERNETES.parent / beside, root.parent / beside)
    return root


@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
def test_every_kustomization_lists_its_files(directory: str) -> None:
    assert check_kustomization(KUBERNETES / directory) == []
    assert check_layout() == []


def test_a_manifest_left_out_of_the_kustomization_is_caught(tree: Path) -> None:
    text = (tree / "base" / "kustomization.yaml").read_text(encoding="utf-8")
    (tree / "base" / "kustomization.yaml").write_text(
        text.replace("  - bot-momentum.yaml\n", ""), encoding="utf-8"
    )
    assert check_kustomization(tree / "base", tree) == [
        "base/bot-momentum.yaml: not listed in its kustomization"
    ]


def test_a_listed_file_that_is_missing_is_caught(tree: Path) -> None:
    (tree / "base" / "collector.yaml").unlink()
    assert check_kustomization(tree / "base", tree) == [
        "base/kustomization.yaml: resource collector.yaml does not exist"
    ]


def test_a_config_file_no_generator_reads_is_caught(tree: Path) -> None:
    (tree / "monitoring" / "config" / "alerts.yml").write_text("groups: []\n", encoding="utf-8")
    problems = check_kustomization(tree / "monitoring", tree)
    assert problems == ["monitoring/config/alerts.yml: read by no generator of its kustomization"]


def test_an_unknown_kustomization_is_caught(tree: Path) -> None:
    shutil.copytree(tree / "overlays" / "demo", tree / "overlays" / "staging")
    assert check_layout(tree) == [
        "overlays/staging: a kustomization the checks do not know (KUSTOMIZATIONS)"
    ]


# --- the copies of compose's configuration ----------------------------------------------


def test_the_copies_of_compose_files_are_current() -> None:
    assert kubernetes_files.stale() == []
    assert kubernetes_files.main(["--check"]) == 0


def test_a_stale_copy_is_caught(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kubernetes_files, "KUBERNETES", tree)
    assert kubernetes_files.stale() == []
    env = tree / "overlays" / "testnet" / "exchange.env"
    env.write_text(env.read_text(encoding="utf-8").replace("testnet", "mainnet"))
    assert kubernetes_files.stale() == [env]
    assert kubernetes_files.main(["--check"]) == 1


def test_prometheus_scrapes_the_kubernetes_service_names() -> None:
    text = (KUBERNETES / "monitoring" / "config" / "prometheus.yml").read_text(encoding="utf-8")
    services = {m.name for m in manifests() if m.kind == "Service"}
    targets = {t.split(":")[0] for t in __import__("re").findall(r'"([a-z0-9-]+:\d+)"', text)}
    assert targets and targets - {"127.0.0.1"} <= services, targets - services


# --- the README's Secret commands ----------------------------------------------------------


def test_a_secret_key_missing_from_the_readme_is_caught() -> None:
    text = README.read_text(encoding="utf-8")
    assert "|REDIS_CLAIMS_PASSWORD|" in text
    problems = check_secret_docs(text.replace("|REDIS_CLAIMS_PASSWORD|", "|"), manifests())
    assert problems == ["deploy/README.md: Secret alpha-redis lacks ['REDIS_CLAIMS_PASSWORD']"]
