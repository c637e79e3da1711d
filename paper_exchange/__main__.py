"""``python -m paper_exchange``: same arguments as ``alpha run paper-exchange``."""

from __future__ import annotations

import argparse
import sys

from core.errors import UserError
from paper_exchange.cli import add_arguments
from paper_exchange.serve import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paper_exchange")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve(args)
    except UserError as exc:
        print(f"paper_exchange: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
