"""Checks of deploy/kubernetes/ that need no compose file: its layout and its names.

Each kustomization lists every manifest and generated file of its directory (a file left
out would silently not be applied); every name and label has the syntax the API server
demands, which the JSON schemas do not check; and the README's ``kubectl create secret``
commands create exactly the Secret keys the manifests read. Each check returns a list of
problems; ``deploy/kubernetes_check.py`` runs them with the compose comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from deploy.kubernetes_manifests import (
    KUBERNETES,
    KUSTOMIZATIONS,
    Manifest,
    all_containers,
    generator_files,
    kustomization,
)

_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
_PORT_NAME = re.compile(r"(?=.{1,15}$)[a-z0-9]+(-[a-z0-9]+)*")
_LABEL_KEY = re.compile(
    r"([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
)
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")


def check_names(found: list[Manifest]) -> list[str]:
    """What the JSON schemas leave to the API server: the syntax of names and labels.

    Object, container and volume names are DNS labels (a Service's must start with a
    letter, so one rule for all), port names IANA service names; compose's "_" in a
    name is the usual slip.
    """
    problems = []

    def labels(where: str, node: Mapping[str, Any]) -> None:
        for key, value in ((node.get("metadata") or {}).get("labels") or {}).items():
            if not _LABEL_KEY.fullmatch(key) or not _LABEL_VALUE.fullmatch(str(value)):
                problems.append(f"{where}: label {key}={value!r} is not a valid label")

    for manifest in found:
        where = f"{manifest.kind}/{manifest.name}"
        if not _DNS_LABEL.fullmatch(manifest.name):
            problems.append(f"{where}: the name is not a DNS label (lower case, digits, '-')")
        labels(where, manifest.doc)
        template = manifest.doc.get("spec", {}).get("template")
        if not template:
            continue
        labels(where, template)
        named = [c["name"] for c in all_containers(template)]
        named += [v["name"] for v in template["spec"].get("volumes") or []]
        named += [p["name"] for c in all_containers(template) for p in c.get("ports") or []]
        for name in named:
            if not _DNS_LABEL.fullmatch(name):
                problems.append(f"{where}: {name!r} is not a DNS label")
        for container in all_containers(template):
            for port in container.get("ports") or []:
                if "name" in port and not _PORT_NAME.fullmatch(port["name"]):
                    problems.append(f"{where}: port name {port['name']!r} (at most 15 characters)")
    return problems


def check_kustomization(directory: Path, root: Path = KUBERNETES) -> list[str]:
    """The kustomization lists every manifest and generator file of its directory."""
    problems = []
    data = kustomization(directory)
    listed = {(directory / entry).resolve() for entry in data.get("resources") or []}
    for entry in data.get("resources") or []:
        if not (directory / entry).exists():
            problems.append(
                f"{directory.relative_to(root)}/kustomization.yaml: resource {entry} does not exist"
            )
    for path in sorted(directory.glob("*.y*ml")):
        if path.name != "kustomization.yaml" and path.resolve() not in listed:
            problems.append(f"{path.relative_to(root)}: not listed in its kustomization")
    used = {path.resolve() for path in generator_files(directory)}
    for path in used:
        if not path.exists():
            problems.append(
                f"{directory.relative_to(root)}/kustomization.yaml: "
                f"generator file {path.name} does not exist"
            )
    for path in sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and "config" in p.relative_to(directory).parts
    ):
        if path.resolve() not in used and "__pycache__" not in path.parts:
            problems.append(f"{path.relative_to(root)}: read by no generator of its kustomization")
    for path in directory.glob("*.env"):
        if path.resolve() not in used:
            problems.append(f"{path.relative_to(root)}: read by no generator of its kustomization")
    return problems


def check_layout(root: Path = KUBERNETES) -> list[str]:
    """Every kustomization directory is one the checks know (and so validate)."""
    found = {str(path.parent.relative_to(root)) for path in root.rglob("kustomization.yaml")}
    return [
        f"{path}: a kustomization the checks do not know (KUSTOMIZATIONS)"
        for path in sorted(found - set(KUSTOMIZATIONS))
    ]


def secret_keys(found: Iterable[Manifest]) -> dict[str, set[str]]:
    """Secret name -> the keys the manifests read from it (what the operator creates)."""
    keys: dict[str, set[str]] = {}
    for manifest in found:
        template = manifest.doc.get("spec", {}).get("template")
        if not template:
            continue
        for container in all_containers(template):
            for entry in container.get("env") or []:
                ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    keys.setdefault(ref["name"], set()).add(ref["key"])
    return keys


_SECRET_COMMAND = re.compile(
    r"create secret generic ([a-z0-9-]+) --from-env-file=<\(grep -E \\\n\s*'\^\(([A-Z0-9_|]*)\)='"
)
README = KUBERNETES.parent / "README.md"


def documented_secrets(text: str) -> dict[str, set[str]]:
    """Secret name -> keys, from the ``kubectl create secret`` commands of deploy/README.md."""
    return {name: set(keys.split("|")) for name, keys in _SECRET_COMMAND.findall(text)}


def check_secret_docs(text: str, found: Iterable[Manifest]) -> list[str]:
    """The documented commands create exactly the Secret keys the manifests read."""
    documented = documented_secrets(text)
    problems = []
    for secret, keys in sorted(secret_keys(found).items()):
        missing = keys - documented.get(secret, set())
        extra = documented.get(secret, set()) - keys
        if missing:
            problems.append(f"deploy/README.md: Secret {secret} lacks {sorted(missing)}")
        if extra:
            problems.append(
                f"deploy/README.md: Secret {secret} has keys no manifest reads: {sorted(extra)}"
            )
    return problems
