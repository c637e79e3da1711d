"""``python -m api`` is ``alpha run api``."""

import sys

from core.cli import main

sys.exit(main(["run", "api", *sys.argv[1:]]))
