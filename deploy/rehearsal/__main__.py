"""``scripts/rehearse``: the production rehearsal (see deploy/rehearsal/__init__.py)."""

from __future__ import annotations

import argparse
import sys

from deploy.rehearsal.run import Options, rehearse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/rehearse",
        description=(
            "Build every image without a registry, run docker-compose.production.yml "
            "(profiles paper and monitoring) here, let the four bots trade with their "
            "production parameters on the paper exchange's realistic book (orders fill "
            "in pieces and slip; some must fill in several executions) through faults "
            "(listener "
            "killed, PostgreSQL, PgBouncer and Redis restarted, listener cut off the "
            "exchange, a bot killed), take a backup, drive the C2, and verify the "
            "ledger against the exchange. Needs root and a Debian bookworm machine; "
            "installs docker.io, debootstrap and Compose v2 when missing. The last line "
            "is 'rehearsal: PASSED' or 'rehearsal: FAILED: <what>'."
        ),
    )
    parser.add_argument("--days", type=float, default=16.0,
                        help="simulated days of trading (default 16: the whole "
                        "'production' market scenario)")  # fmt: skip
    parser.add_argument(
        "--speed",
        type=float,
        default=3600.0,
        help="simulated seconds per real second (default 3600)",
    )
    parser.add_argument("--seed", type=int, default=1, help="market seed (default 1)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave the stack running (and its volumes) for inspection",
    )
    parser.add_argument(
        "--no-build", action="store_true", help="use the images a previous run built"
    )
    parser.add_argument(
        "--project",
        default="alpha-rehearsal",
        help="compose project name (default alpha-rehearsal)",
    )
    parser.add_argument(
        "--out", default=".run/rehearsal", help="where the report, the .env (0600) and the logs go"
    )
    args = parser.parse_args(argv)
    if args.days <= 0 or args.speed <= 0:
        parser.error("--days and --speed must be positive")
    opts = Options(days=args.days, speed=args.speed, seed=args.seed, keep=args.keep,
                   no_build=args.no_build, project=args.project, out=args.out)  # fmt: skip
    return rehearse(opts)


if __name__ == "__main__":
    sys.exit(main())
