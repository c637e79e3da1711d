"""``scripts/rehearse``: the production rehearsal (see deploy/rehearsal/__init__.py)."""

from __future__ import annotations

import argparse
import sys

from deploy.rehearsal.options import add_run_options
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
    add_run_options(parser, project="alpha-rehearsal", out=".run/rehearsal",
                    keep="leave the stack running (and its volumes) for inspection")  # fmt: skip
    args = parser.parse_args(argv)
    if args.days <= 0 or args.speed <= 0:
        parser.error("--days and --speed must be positive")
    opts = Options(days=args.days, speed=args.speed, seed=args.seed, keep=args.keep,
                   no_build=args.no_build, project=args.project, out=args.out)  # fmt: skip
    return rehearse(opts)


if __name__ == "__main__":
    sys.exit(main())
