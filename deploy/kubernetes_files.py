"""Copies the configuration compose mounts into ``deploy/kubernetes/`` for kustomize.

    python -m deploy.kubernetes_files          # rewrite the copies
    python -m deploy.kubernetes_files --check  # exit 1 when a copy is out of date

``kubectl apply -k`` reads generator files only from inside the kustomization's own
directory (kustomize's load restriction). The PgBouncer and Redis files need no copy:
``deploy/pgbouncer`` and ``deploy/redis`` each carry a kustomization that generates their
ConfigMap, and the base lists those directories as resources. The exchange env files
(one ConfigMap name, a different file per overlay) and Prometheus' and Grafana's
configuration are copied byte for byte; Prometheus' scrape targets are the one change,
because a Kubernetes Service name cannot contain "_" (compose's ``websocket_listener``
is the Service ``websocket-listener``). A test runs ``--check``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
KUBERNETES = DEPLOY / "kubernetes"
EXCHANGES = ("mainnet", "testnet", "demo", "paper")

PROMETHEUS_HEADER = (
    "# Generated from deploy/prometheus/prometheus.yml by `python -m deploy.kubernetes_files`:\n"
    '# do not edit. The same targets as compose, as Kubernetes Service names (no "_").\n'
)


def service_name(compose_service: str) -> str:
    """The Kubernetes name of a compose service: DNS labels allow "-" but not "_"."""
    return compose_service.replace("_", "-")


def copies() -> dict[Path, Path]:
    """Each copy under deploy/kubernetes/ and the compose-side file it is taken from."""
    pairs = {
        KUBERNETES / "overlays" / env / "exchange.env": DEPLOY / "exchange" / f"{env}.env"
        for env in EXCHANGES
    }
    grafana = DEPLOY / "grafana"
    monitoring = KUBERNETES / "monitoring/config"
    pairs[monitoring / "grafana-datasources/alpha.yml"] = (
        grafana / "provisioning/datasources/alpha.yml"
    )
    pairs[monitoring / "grafana-dashboard-providers/alpha.yml"] = (
        grafana / "provisioning/dashboards/alpha.yml"
    )
    pairs[monitoring / "grafana-dashboards/alpha-overview.json"] = (
        grafana / "dashboards/alpha-overview.json"
    )
    return pairs


def prometheus_config() -> str:
    text = (DEPLOY / "prometheus/prometheus.yml").read_text(encoding="utf-8")
    renamed = re.sub(
        r'"([a-z][a-z0-9_]*):(\d+)"',
        lambda m: f'"{service_name(m.group(1))}:{m.group(2)}"',
        text,
    )
    return PROMETHEUS_HEADER + renamed


def expected() -> dict[Path, str]:
    files = {copy: source.read_text(encoding="utf-8") for copy, source in copies().items()}
    files[KUBERNETES / "monitoring/config/prometheus.yml"] = prometheus_config()
    return files


def stale() -> list[Path]:
    return [
        path
        for path, text in expected().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.kubernetes_files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a copy is out of date")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale()
        for path in outdated:
            print(
                f"{os.path.relpath(path, DEPLOY.parent)} is out of date: "
                "python -m deploy.kubernetes_files"
            )
        return 1 if outdated else 0
    for path, text in expected().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
