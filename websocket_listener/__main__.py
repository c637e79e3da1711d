"""``python -m websocket_listener``: the same as ``alpha run listener``."""

import sys

from core.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", "listener", *sys.argv[1:]]))
