"""The Kubernetes manifests against the Kubernetes API's JSON schemas, offline.

Every document of every kustomization, and every ConfigMap the kustomizations generate,
must be a valid object of its kind for each version in KUBERNETES_VERSIONS, in the
schemas' strict form (an unknown field is an error). Deliberately broken copies of a
real Deployment must fail, so the check is known to be able to fail. No cluster is
involved; where kubectl is installed, its kustomize renders each kustomization and the
rendered objects are validated too.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy.kubernetes_manifests import (
    KUBERNETES,
    KUSTOMIZATIONS,
    generated_config_maps,
    load_documents,
    manifests,
    resource_files,
)
from deploy.kubernetes_schema import KUBERNETES_VERSIONS, main, problems_of

RESOURCE_FILES = sorted({path for d in KUSTOMIZATIONS for path in resource_files(KUBERNETES / d)})


def test_the_validator_bundles_the_versions_we_claim() -> None:
    import kubernetes_validate

    bundled = kubernetes_validate.utils.all_versions()
    for version in KUBERNETES_VERSIONS:
        assert any(v.startswith(version + ".") for v in bundled), (version, bundled[-3:])


@pytest.mark.parametrize("path", RESOURCE_FILES, ids=lambda p: str(p.relative_to(KUBERNETES)))
def test_every_manifest_is_valid(path: Path) -> None:
    docs = load_documents(path)
    assert docs, f"{path} holds no document"
    problems = [problem for doc in docs for problem in problems_of(doc)]
    assert problems == []


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_generated_config_map_is_valid(kustomization: str) -> None:
    for config_map in generated_config_maps(KUBERNETES / kustomization):
        assert config_map["data"], config_map["metadata"]["name"]
        assert problems_of(config_map) == []


def test_the_manifests_cover_every_kind_they_use() -> None:
    """A kind without a schema would be reported, never skipped: prove the set is real."""
    kinds = {m.kind for m in manifests()}
    assert {"Deployment", "StatefulSet", "Job", "Service", "NetworkPolicy"} <= kinds
    assert problems_of({"apiVersion": "v1", "kind": "NoSuchKind", "metadata": {"name": "x"}})


def _listener() -> dict[str, Any]:
    for doc in load_documents(KUBERNETES / "base" / "websocket-listener.yaml"):
        if doc["kind"] == "Deployment":
            return copy.deepcopy(doc)
    raise AssertionError("no listener Deployment")


def _container(doc: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = doc["spec"]["template"]["spec"]["containers"][0]
    return container


BREAKAGES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    # name: (what breaks the copy, where the validator must point)
    "misspelt field": (lambda d: _container(d).update(livenesProbe={}), "containers.0"),
    "replicas as a word": (lambda d: d["spec"].update(replicas="one"), "spec.replicas"),
    "capabilities as a string": (
        lambda d: _container(d)["securityContext"]["capabilities"].update(drop="ALL"),
        "capabilities.drop",
    ),
    "env entry without a name": (lambda d: _container(d)["env"][0].pop("name"), "env.0"),
    "field at the wrong level": (lambda d: d["spec"].update(image="alpha-bots:latest"), "spec"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_broken_manifest_fails(breakage: str) -> None:
    doc = _listener()
    assert problems_of(doc) == []
    breaking, where = BREAKAGES[breakage]
    breaking(doc)
    problems = problems_of(doc)
    assert len(problems) == len(KUBERNETES_VERSIONS), problems
    assert all(where in problem for problem in problems), problems


def test_the_command_line_fails_on_a_broken_file(tmp_path: Path) -> None:
    good = KUBERNETES / "base" / "websocket-listener.yaml"
    assert main([str(good)]) == 0
    doc = _listener()
    doc["spec"]["strategy"] = {"type": "Recreate", "maxSurge": 1}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert main([str(bad)]) == 1


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("kustomization", [d for d in KUSTOMIZATIONS if d != "base"])
def test_kustomize_renders_valid_objects(kustomization: str) -> None:
    """What `kubectl apply -k` would send: rendered by kubectl's own kustomize."""
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(KUBERNETES / kustomization)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    docs = [doc for doc in yaml.safe_load_all(rendered) if doc]
    assert {doc["metadata"].get("namespace") for doc in docs if doc["kind"] != "Namespace"} == {
        "alpha"
    }
    problems = [problem for doc in docs for problem in problems_of(doc)]
    assert problems == []
    # Every generated ConfigMap got its hash suffix, and every pod refers to that name.
    # Every generated ConfigMap got its hash suffix and holds its files as they are,
    # those generated where compose reads them (deploy/pgbouncer, deploy/redis) included.
    made = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "ConfigMap"}
    for generated in generated_config_maps(KUBERNETES / kustomization):
        [name] = [n for n in made if n.startswith(generated["metadata"]["name"] + "-")]
        assert made[name]["data"] == generated["data"], name
    for bare in ("name: alpha-exchange\n", "name: alpha-wait\n", "name: alpha-prometheus\n"):
        assert bare not in rendered
