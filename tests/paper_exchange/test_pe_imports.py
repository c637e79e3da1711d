"""The paper exchange's server and command line import without cycles (issue 23).

Why: ``server/app.py`` imported every handler module while each handler named
``app.PaperExchange`` in its type hints, and ``cli`` and ``__main__`` imported each
other; ``TYPE_CHECKING`` and function-level imports only hid the cycles, which make a
module's meaning depend on import order and defeat tools that reason per module. The
handlers now depend on ``server/host.py`` (a Protocol) and both entry points on
``serve.py``; in the engine, ``ledger_log`` and ``models`` share ``books.py`` and the
product categories live in ``state``. The static check reads every import, including those under
``TYPE_CHECKING`` and inside functions, so a hidden cycle fails it too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "paper_exchange"


def _modules() -> dict[str, Path]:
    found = {}
    for path in (ROOT / PACKAGE).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in modules}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    if sub in modules:
                        graph[name].add(sub)
                    elif node.module in modules:
                        graph[name].add(node.module)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_a_cycle_hidden_by_type_checking() -> None:
    graph = {"a": {"b"}, "b": {"a"}, "c": {"a"}}
    assert _cycles(graph) == [{"a", "b"}]
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import paper_exchange.cli\n"
    tree = ast.parse(source)
    assert any(isinstance(n, ast.Import) for n in ast.walk(tree))  # ast.walk enters the `if`


def test_no_import_cycle_in_the_package() -> None:
    graph = _import_graph()
    assert "paper_exchange.server.host" in graph["paper_exchange.server.rest"]
    assert [sorted(c) for c in _cycles(graph)] == []


@pytest.mark.parametrize(
    "module",
    [
        "paper_exchange.server.rest",
        "paper_exchange.server.control",
        "paper_exchange.server.ws_private",
        "paper_exchange.server.ws_public",
        "paper_exchange.server.depth",
        "paper_exchange.server.account_info",
        "paper_exchange.cli",
    ],
)
def test_a_handler_imports_alone_without_the_app(module: str) -> None:
    """In a fresh interpreter, first: it loads, and neither the app nor ``__main__``
    comes with it."""
    probe = (
        f"import sys, {module}; "
        "bad = {'paper_exchange.server.app', 'paper_exchange.__main__'} & set(sys.modules); "
        "print(sorted(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
