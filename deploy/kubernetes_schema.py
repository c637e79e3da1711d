"""Validating Kubernetes manifests against the API's JSON schemas, offline.

The schemas are the ones ``kubernetes-validate`` ships inside its wheel, one set per
Kubernetes minor version, in their strict form: a misspelt or misplaced field is an
error, as the API server's strict field validation (the default of ``kubectl apply``
since 1.27) would make it, not a field silently dropped. A document whose kind has no
schema is a problem too, never a silent pass.

    python -m deploy.kubernetes_schema FILE...   # every document of each file; exit 1 on a problem
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

#: The Kubernetes versions the manifests are validated against: 1.32 (the kubectl they
#: were written with) and 1.37, the newest kubernetes-validate 1.37 bundles. A test
#: fails if the installed package lacks either.
KUBERNETES_VERSIONS = ("1.32", "1.37")


def problems_of(doc: Mapping[str, Any], versions: Iterable[str] = KUBERNETES_VERSIONS) -> list[str]:
    """Why ``doc`` is not a valid object of its kind, per Kubernetes version; [] if it is."""
    kind = doc.get("kind", "?")
    name = (doc.get("metadata") or {}).get("name", "?")
    problems = []
    for version in versions:
        try:
            kubernetes_validate.validate(dict(doc), version, strict=True)
        except ValidationError as exc:
            where = ".".join(str(part) for part in exc.path) or "(top)"
            problems.append(f"{kind}/{name} (Kubernetes {version}): {where}: {exc.message}")
        except SchemaNotFoundError as exc:
            problems.append(f"{kind}/{name}: {exc.message}")
    return problems


def main(argv: list[str]) -> int:
    problems: list[str] = []
    for path in argv:
        for doc in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")):
            if doc:
                problems.extend(f"{path}: {problem}" for problem in problems_of(doc))
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
