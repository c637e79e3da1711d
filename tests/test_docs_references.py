"""Every document the repository cites must be one the repository contains.

A reference that leads nowhere is a dead end for a reviewer or an operator, and it
silently rots: a comment says "see X", X is renamed, nobody notices. So this test reads
every text file of the repository (code, tests, compose files, Markdown, shell scripts,
Dockerfiles) and fails on:

* a Markdown path (``something.md``, ``docs/ledger.md#anchor``) or a ``docs/…`` path
  that does not exist, relative to the citing file or to the repository root;
* an ``#anchor`` into a Markdown file that has no heading with that anchor (GitHub's
  rule for heading anchors), and a relative Markdown link ``[text](target)`` whose
  target file is missing;
* ``docs/….md invariant N`` when that document has no heading numbered ``N.``;
* ``tests/….py::test_name`` when that file has no such test (the docs name the tests
  that prove each rule, and a renamed test must not leave a stale name behind);
* a citation of one of the three research notes the project was started from, which
  were never part of it (their names are assembled below so that this file does not
  cite them itself), and a bare section sign with a number (``§7.3``), which cites a
  numbered section of a document it does not name.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THIS_FILE = Path(__file__).resolve()

#: Files that are data, not prose or code: never scanned.
SKIP_SUFFIXES = frozenset({".csv", ".png", ".jpg", ".svg", ".ico", ".gz", ".zip"})
SKIP_NAMES = frozenset({"LICENSE"})
#: Directories of a work tree that are not the repository's own files.
SKIP_DIRS = frozenset(
    {".git", ".venv", "venv", ".run", "__pycache__", ".pytest_cache", ".ruff_cache",
     ".mypy_cache", "node_modules", "build", "dist"}
)  # fmt: skip

_NOTES = "|".join(("DES" + "IGN", "STRAT" + "EGIES", "BYBIT" + "_V5"))
NOTE_CITATION = re.compile(rf"\b(?:{_NOTES})\b(?:\.md\b|\s*§|\s+invariants?\b|\s+data flow\b|:)")
SECTION_SIGN = re.compile(r"§\s*\d")
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s<>()\[\]\"'`]+", re.IGNORECASE)
MD_PATH = re.compile(r"(?<![\w./-])((?:\.{1,2}/)*[\w./-]*[\w-]\.md)(?:#([\w-]+))?\b")
DOCS_PATH = re.compile(r"(?<![\w./-])(docs/[\w./-]*[\w-])(?:#([\w-]+))?")
MD_LINK = re.compile(r"\]\(\s*([^)\s]+)\s*\)")
TEST_NAME = re.compile(r"(?<![\w./-])(tests/[\w./-]+\.py)::(\w+)")
INVARIANT = re.compile(r"(docs/[\w./-]+\.md)(?:#[\w-]+)?,?\s+invariants?\s+(\d+)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


# --- which files -----------------------------------------------------------------------


def repository_files(root: Path) -> list[Path]:
    """Tracked and new (not ignored) files; a plain walk where git is not available."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"],
            capture_output=True, check=True, timeout=60,
        ).stdout  # fmt: skip
        names = [n for n in out.decode().split("\0") if n]
        return sorted({root / n for n in names if (root / n).is_file()})
    except (OSError, subprocess.SubprocessError):
        return sorted(
            p for p in root.rglob("*")
            if p.is_file() and not SKIP_DIRS.intersection(p.relative_to(root).parts)
        )  # fmt: skip


def _text(path: Path) -> str | None:
    if path.suffix in SKIP_SUFFIXES or path.name in SKIP_NAMES or path == THIS_FILE:
        return None
    try:
        if path.stat().st_size > 2_000_000:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


# --- Markdown anchors --------------------------------------------------------------------


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text lower-cased, punctuation other
    than ``-`` and ``_`` removed, each space a ``-``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = text.replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every anchor of a Markdown file (headings outside code blocks, ``<a id>``)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if in_code:
            continue
        found.update(HTML_ANCHOR.findall(line))
        match = HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def numbered_headings(path: Path) -> frozenset[str]:
    """The numbers of headings such as ``### 6. Attribution``."""
    return frozenset(
        m.group(1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if (m := re.match(r"^#{1,6}\s+(\d+)\.\s", line))
    )


# --- the checks --------------------------------------------------------------------------


def _resolve(root: Path, source: Path, target: str) -> Path | None:
    """``target`` relative to the citing file's folder, else to the repository root."""
    for base in (source.parent, root):
        candidate = (base / target).resolve()
        if candidate.exists() and candidate.is_relative_to(root):
            return candidate
    return None


def _check_target(root: Path, source: Path, target: str, anchor: str | None) -> str | None:
    path = _resolve(root, source, target)
    if path is None:
        return f"{target} does not exist"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"{target}#{anchor}: no heading has that anchor"
    return None


def _line_problems(root: Path, source: Path, line: str, is_markdown: bool) -> Iterator[str]:
    if NOTE_CITATION.search(line):
        yield "cites a research note the repository does not contain"
    if SECTION_SIGN.search(line):
        yield "cites a numbered section (§) without naming a document of the repository"
    bare = URL.sub(" ", line)
    targets: dict[tuple[str, str | None], None] = {}
    for pattern in (MD_PATH, DOCS_PATH):
        for match in pattern.finditer(bare):
            targets[(match.group(1), match.group(2))] = None
    for target, anchor in targets:
        problem = _check_target(root, source, target, anchor)
        if problem:
            yield problem
    for match in TEST_NAME.finditer(bare):
        path = _resolve(root, source, match.group(1))
        if path is None:
            yield f"{match.group(1)} does not exist"
        elif not re.search(rf"^\s*(?:async\s+)?def {match.group(2)}\(", _read(path), re.M):
            yield f"{match.group(1)} has no test {match.group(2)}"
    for match in INVARIANT.finditer(bare):
        path = _resolve(root, source, match.group(1))
        if path is not None and match.group(2) not in numbered_headings(path):
            yield f"{match.group(1)} has no invariant {match.group(2)}"
    if is_markdown:
        for match in MD_LINK.finditer(line):
            link = match.group(1)
            if URL.match(link) or link.startswith("mailto:"):
                continue
            target, _, anchor = link.partition("#")
            if not target:
                if anchor not in anchors(source):
                    yield f"#{anchor}: no heading of this file has that anchor"
                continue
            problem = _check_target(root, source, target, anchor or None)
            if problem:
                yield problem


def dead_references(root: Path, files: Iterable[Path]) -> list[str]:
    """``path:line: problem`` for every dead reference in ``files``."""
    problems: list[str] = []
    for path in files:
        text = _text(path)
        if text is None:
            continue
        is_markdown = path.suffix == ".md"
        in_code = False
        for number, line in enumerate(text.splitlines(), start=1):
            if is_markdown and FENCE.match(line):
                in_code = not in_code
            if is_markdown and in_code:
                continue  # a code block shows text; it does not link
            # dict.fromkeys: a Markdown link is also a path in the text; report it once.
            for problem in dict.fromkeys(_line_problems(root, path, line, is_markdown)):
                problems.append(f"{path.relative_to(root)}:{number}: {problem}")
    return problems


# --- the tests ---------------------------------------------------------------------------


def test_every_cited_document_exists_in_the_repository() -> None:
    problems = dead_references(ROOT, repository_files(ROOT))
    assert not problems, "dead references:\n" + "\n".join(problems)


def test_the_docs_index_lists_every_document() -> None:
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.name != "README.md")
    assert pages, "docs/ has no pages"
    missing = [name for name in pages if f"({name})" not in index]
    assert not missing, f"docs/README.md does not link to {missing}"


def test_the_checker_finds_each_kind_of_dead_reference(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_here() -> None: ...\n")
    (tmp_path / "docs" / "ledger.md").write_text(
        "# Ledger\n\n## The invariants\n\n### 1. Exactly once\n\n```\n# not a heading\n```\n"
    )
    note = "DES" + "IGN"
    good = tmp_path / "good.py"
    good.write_text(
        '"""See docs/ledger.md#1-exactly-once and docs/ledger.md invariant 1;\n'
        "docs/ledger.md#the-invariants; tests/test_x.py::test_here;\n"
        'https://example.com/docs/v5/x.md is a URL."""\n'
    )
    bad = tmp_path / "bad.py"
    bad.write_text(
        f"# {note}.md\n"
        f"# ({note} invariant 6)\n"
        "# (§7.3.4)\n"
        "# docs/missing.md\n"
        "# docs/ledger.md#not-a-heading\n"
        "# docs/ledger.md invariant 9\n"
        "# docs/images/flow.png\n"
        "# notes/elsewhere.md\n"
        "# tests/test_x.py::test_gone\n"
    )
    page = tmp_path / "docs" / "index.md"
    page.write_text("[a](ledger.md#exactly-once) [b](../src/gone.py) [c](#nowhere)\n")

    assert dead_references(tmp_path, [good]) == []
    found = dead_references(tmp_path, [bad, page])
    assert found == [
        "bad.py:1: cites a research note the repository does not contain",
        f"bad.py:1: {note}.md does not exist",
        "bad.py:2: cites a research note the repository does not contain",
        "bad.py:3: cites a numbered section (§) without naming a document of the repository",
        "bad.py:4: docs/missing.md does not exist",
        "bad.py:5: docs/ledger.md#not-a-heading: no heading has that anchor",
        "bad.py:6: docs/ledger.md has no invariant 9",
        "bad.py:7: docs/images/flow.png does not exist",
        "bad.py:8: notes/elsewhere.md does not exist",
        "bad.py:9: tests/test_x.py has no test test_gone",
        "docs/index.md:1: ledger.md#exactly-once: no heading has that anchor",
        "docs/index.md:1: ../src/gone.py does not exist",
        "docs/index.md:1: #nowhere: no heading of this file has that anchor",
    ]


def test_heading_anchors_follow_githubs_rule() -> None:
    assert slug("6. Attribution") == "6-attribution"
    assert slug("`position:{bot_id}:{symbol}`") == "positionbot_idsymbol"
    assert slug("Orders, executions & history") == "orders-executions--history"
    assert slug("[pybit](https://github.com/bybit-exchange/pybit) sockets") == "pybit-sockets"
