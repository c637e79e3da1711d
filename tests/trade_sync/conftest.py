"""Makes ``sync_helpers`` importable (test folders carry no package marker here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
