"""``python -m telegram_c2`` is ``alpha run c2``."""

import sys

from core.cli import main

sys.exit(main(["run", "c2", *sys.argv[1:]]))
