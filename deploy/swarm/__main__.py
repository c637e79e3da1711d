"""``scripts/swarm-rehearse``: the Swarm proof (see deploy/swarm/proof.py)."""

from __future__ import annotations

import argparse
import sys

from deploy.rehearsal.options import add_run_options
from deploy.swarm.node_loss import prove_two_nodes
from deploy.swarm.proof import Options, prove


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/swarm-rehearse",
        description=(
            "Deploy deploy/swarm/stack.yml and paper.yml with `docker stack deploy` on a "
            "single-node swarm here (the rehearsal's images, Swarm secrets), let the four "
            "bots trade on the paper exchange, SIGKILL the listener's container, see Swarm "
            "replace the task, and verify that every execution the exchange reports is in "
            "the ledger exactly once. Then removes the stack, its volumes and secrets and "
            "leaves the swarm if it created it. As root; the last line is "
            "'swarm proof: PASSED' or 'swarm proof: FAILED: <what>'."
        ),
    )
    parser.add_argument(
        "--before",
        type=float,
        default=100.0,
        help="seconds of trading before the kill (default 100)",
    )
    parser.add_argument(
        "--after",
        type=float,
        default=40.0,
        help="seconds of trading after the new listener task is healthy (default 40)",
    )
    parser.add_argument(
        "--second-node",
        action="store_true",
        help=(
            "prove node loss instead: a second Docker engine on this machine (its own "
            "network namespace and image store) joins as a worker, the listener runs "
            "there, and the whole node is SIGKILLed; its tasks must come back on this "
            "one with nothing lost (deploy/swarm/node_loss.py; not run by CI)"
        ),
    )
    parser.add_argument(
        "--partition",
        action="store_true",
        help=(
            "with --second-node: cut the second node's link instead of killing it (a "
            "partition: its listener lives on, cut off, while Swarm starts another here), "
            "then bring the link back; the node must stop the replaced tasks and the "
            "ledger hold every execution once"
        ),
    )
    add_run_options(parser, project="alpha-swarm", out=".run/swarm",
                    keep="leave the stack, its volumes and the swarm for inspection")  # fmt: skip
    args = parser.parse_args(argv)
    if args.before <= 0 or args.after < 0 or args.speed <= 0:
        parser.error("--before and --speed must be positive, --after not negative")
    if args.partition and not args.second_node:
        parser.error("--partition needs --second-node")
    run = prove_two_nodes if args.second_node else prove
    return run(
        Options(
            before=args.before,
            after=args.after,
            speed=args.speed,
            seed=args.seed,
            keep=args.keep,
            no_build=args.no_build,
            project=args.project,
            out=args.out,
            partition=args.partition,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
