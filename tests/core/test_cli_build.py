"""The ``alpha`` verb tree as a process builds it."""

from __future__ import annotations

import sys

from core import cli


def test_alpha_run_bot_builds_only_its_own_verb():
    """Fifty bot processes need not each build every package's verbs (docs/fleet.md)."""
    before = set(sys.modules)
    tree = cli.build(["run", "bot", "some_bot"])
    args = tree.parser.parse_args(["run", "bot", "some_bot"])
    assert args.bot_id == "some_bot" and callable(args.func)
    assert set(tree._groups) == {"run"}
    assert list(tree._groups["run"].choices) == ["bot"]
    loaded = {m for m in set(sys.modules) - before if m.endswith(".cli")}
    assert loaded <= {"bots.runtime.cli"}
    full = cli.build(["run", "listener"])
    assert {"bot", "listener", "c2"} <= set(full._groups["run"].choices)
