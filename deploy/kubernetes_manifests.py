"""Reading ``deploy/kubernetes/``: its kustomizations, their manifests, the pods they run.

What the checks in ``deploy/kubernetes_check.py`` need to know about the manifests, read
without kubectl: each kustomization's resource files and generated ConfigMaps (as
kustomize would generate them, without the hash suffix), and for each compose service
the pod template that stands for it (the ``alpha/compose-service`` label).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
#: Every kustomization directory, relative to deploy/kubernetes/.
KUSTOMIZATIONS = (
    "base",
    "overlays/mainnet",
    "overlays/testnet",
    "overlays/demo",
    "overlays/paper",
    "monitoring",
)
#: The label that ties a pod template to its compose service.
COMPOSE_LABEL = "alpha/compose-service"
#: Labels naming the compose networks a pod is on (network-policies.yaml).
NETWORK_LABEL_PREFIX = "networks.alpha/"

Doc = dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    path: Path
    doc: Doc

    @property
    def kind(self) -> str:
        return str(self.doc.get("kind"))

    @property
    def name(self) -> str:
        return str((self.doc.get("metadata") or {}).get("name"))


def kustomization(directory: Path) -> Doc:
    data = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{directory}/kustomization.yaml: not a mapping")
    return data


def resource_files(directory: Path) -> list[Path]:
    """The kustomization's resources that are files (not other kustomizations)."""
    entries = kustomization(directory).get("resources") or []
    return [directory / entry for entry in entries if not (directory / entry).is_dir()]


def generator_files(directory: Path) -> list[Path]:
    """Every file a configMapGenerator or secretGenerator of the kustomization reads."""
    data = kustomization(directory)
    files = []
    for generator in (data.get("configMapGenerator") or []) + (data.get("secretGenerator") or []):
        for entry in (generator.get("files") or []) + (generator.get("envs") or []):
            files.append(directory / str(entry).split("=", 1)[-1])
    return files


def load_documents(path: Path) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def manifests(root: Path = KUBERNETES, dirs: tuple[str, ...] = KUSTOMIZATIONS) -> list[Manifest]:
    """Every document of every resource file of the kustomizations, each file once."""
    seen: set[Path] = set()
    found: list[Manifest] = []
    for directory in dirs:
        for path in resource_files(root / directory):
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            found.extend(Manifest(path, doc) for doc in load_documents(path))
    return found


def generated_config_maps(directory: Path) -> list[Doc]:
    """The ConfigMaps the kustomization's configMapGenerator makes (no hash suffix), and
    those of the kustomizations it lists as resources (``deploy/pgbouncer`` …)."""
    made = []
    spec = kustomization(directory)
    for entry in spec.get("resources") or []:
        if (directory / entry).is_dir():
            made.extend(generated_config_maps(directory / entry))
    for generator in spec.get("configMapGenerator") or []:
        data: dict[str, str] = {}
        for entry in generator.get("files") or []:
            path = directory / entry
            data[path.name] = path.read_text(encoding="utf-8")
        for entry in generator.get("envs") or []:
            for line in (directory / entry).read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    key, value = line.split("=", 1)
                    data[key.strip()] = value
        made.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": generator["name"]},
                "data": data,
            }
        )
    return made


# --- pods ------------------------------------------------------------------------------


def pod_template(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod template of a workload (Deployment, StatefulSet, Job), else None."""
    if doc.get("kind") in ("Deployment", "StatefulSet", "Job"):
        template: Mapping[str, Any] = doc["spec"]["template"]
        return template
    return None


def pods(found: list[Manifest]) -> dict[str, tuple[Manifest, Mapping[str, Any]]]:
    """Compose service name -> (its workload, that workload's pod template)."""
    by_service: dict[str, tuple[Manifest, Mapping[str, Any]]] = {}
    for manifest in found:
        template = pod_template(manifest.doc)
        if template is None:
            continue
        service = (template.get("metadata") or {}).get("labels", {}).get(COMPOSE_LABEL)
        if service is None:
            continue
        if service in by_service:
            raise ValueError(f"two workloads stand for compose service {service!r}")
        by_service[service] = (manifest, template)
    return by_service


def main_container(template: Mapping[str, Any]) -> Mapping[str, Any]:
    container: Mapping[str, Any] = template["spec"]["containers"][0]
    return container


def all_containers(template: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    spec = template["spec"]
    yield from spec.get("initContainers") or []
    yield from spec["containers"]


def network_labels(template: Mapping[str, Any]) -> set[str]:
    labels = (template.get("metadata") or {}).get("labels") or {}
    return {
        key.removeprefix(NETWORK_LABEL_PREFIX)
        for key, value in labels.items()
        if key.startswith(NETWORK_LABEL_PREFIX) and value == "true"
    }


def wait_targets(template: Mapping[str, Any]) -> list[str]:
    """What the pod's init containers wait for (``wait_for.py TARGET…``)."""
    targets: list[str] = []
    for container in template["spec"].get("initContainers") or []:
        command = list(container.get("command") or []) + list(container.get("args") or [])
        if any(str(part).endswith("wait_for.py") for part in command):
            targets.extend(part for part in command if "://" in str(part))
    return targets


def container_port(container: Mapping[str, Any], port: int | str) -> int | None:
    """A probe's port as a number (probes may name a container port)."""
    if isinstance(port, int):
        return port
    for entry in container.get("ports") or []:
        if entry.get("name") == port:
            return int(entry["containerPort"])
    return None
