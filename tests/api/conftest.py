"""API test fixtures: helpers next to the tests (``api_harness``)."""

from __future__ import annotations

import sys
from pathlib import Path

# --import-mode=importlib puts no test directory on sys.path; our helpers need it.
sys.path.insert(0, str(Path(__file__).parent))
