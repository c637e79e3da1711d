"""``python -m trade_sync``: the same as ``alpha run trade-sync``."""

import sys

from core.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "trade-sync", *sys.argv[1:]]))
