"""The command-line options every run on Docker here shares: the rehearsal
(``scripts/rehearse``) and the Swarm proof (``scripts/swarm-rehearse``)."""

from __future__ import annotations

import argparse


def add_run_options(parser: argparse.ArgumentParser, *, project: str, out: str, keep: str) -> None:
    """The options every run on Docker here takes (the rehearsal, the Swarm proof)."""
    parser.add_argument(
        "--speed",
        type=float,
        default=3600.0,
        help="simulated seconds per real second (default 3600)",
    )
    parser.add_argument("--seed", type=int, default=1, help="market seed (default 1)")
    parser.add_argument("--keep", action="store_true", help=keep)
    parser.add_argument(
        "--no-build", action="store_true", help="use the images a previous run built"
    )
    parser.add_argument("--project", default=project, help=f"project name (default {project})")
    parser.add_argument(
        "--out",
        default=out,
        help=f"where the report, the .env (0600) and the logs go (default {out})",
    )
