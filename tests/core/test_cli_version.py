"""``alpha --version``: the installed package's version, one line, exit 0."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import tomllib
from pathlib import Path

from core.cli import DISTRIBUTION
from tests.harness.services import alpha_command

ROOT = Path(__file__).resolve().parents[2]


def test_version_prints_the_installed_distribution_version() -> None:
    result = subprocess.run(
        [*alpha_command(), "--version"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    installed = importlib.metadata.version(DISTRIBUTION)
    assert result.stdout == f"alpha {installed}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", installed), installed


def test_the_distribution_name_is_the_one_pyproject_declares() -> None:
    # A rename in pyproject.toml without this constant would make --version say "unknown".
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
