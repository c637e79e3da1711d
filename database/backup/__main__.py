import sys

from core.cli import main

sys.exit(main(["run", "backup", *sys.argv[1:]]))
