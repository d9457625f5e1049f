"""The training corpus: this CPython's standard library sources, split by file, cut into snippets.

Every .py file under sysconfig.get_paths()["stdlib"] (site-packages excluded)
that reads as UTF-8 and compiles is a source file. A file belongs to the
held-out split when a hash of its path relative to the stdlib folder says so,
so the split is the same on every machine with the same Python version.

Injected errors are checked by compiling, and compiling a whole big file per
example costs up to 100 ms, so each file is cut into *snippets*: runs of sibling
statements of at most MAX_SNIPPET_LINES lines that compile on their own (an
indented run compiles under an "if 1:" header line). An error is injected
inside a snippet and the snippet is compiled to find the line the compiler
reports; the model's context still comes from the whole file.
"""

from __future__ import annotations

import ast
import hashlib
import sysconfig
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dgcode.repair.canvas import split_lines

MAX_SNIPPET_LINES = 60
HELDOUT_PERCENT = 10
INDENTED_HEADER = "if 1:\n"


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def split_of(relative_path: str, heldout_percent: int = HELDOUT_PERCENT) -> str:
    """'heldout' or 'train', from a hash of the path relative to the stdlib folder (posix form)."""
    digest = hashlib.sha256(relative_path.encode("utf-8")).digest()
    return "heldout" if int.from_bytes(digest[:8], "little") % 100 < heldout_percent else "train"


def list_source_files(root: Path | None = None) -> list[str]:
    """Relative posix paths of the stdlib's .py files, sorted."""
    root = root or stdlib_root()
    found = []
    for p in root.rglob("*.py"):
        rel = p.relative_to(root)
        if "site-packages" in rel.parts or "__pycache__" in rel.parts:
            continue
        found.append(rel.as_posix())
    return sorted(found)


def compiles(source: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            compile(source, "<snippet>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return False
    return True


@dataclass(frozen=True)
class SourceFile:
    path: str          # relative to the stdlib folder
    lines: list[str]   # with their line endings


@dataclass(frozen=True)
class Snippet:
    file: int          # index into Corpus.files
    start: int         # first line, 0-based
    end: int           # one past the last line
    indented: bool     # compiles under INDENTED_HEADER

    @property
    def n_lines(self) -> int:
        return self.end - self.start


def _statement_start(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", None) or []
    return min([node.lineno] + [d.lineno for d in decorators]) - 1


def _child_bodies(node: ast.stmt) -> list[list[ast.stmt]]:
    bodies = []
    for name in ("body", "orelse", "finalbody"):
        body = getattr(node, name, None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            bodies.append(body)
    for handler in getattr(node, "handlers", None) or []:
        bodies.append(handler.body)
    for case in getattr(node, "cases", None) or []:
        bodies.append(case.body)
    return bodies


def _group_siblings(body: list[ast.stmt], limit: int) -> list[list[ast.stmt]]:
    """Consecutive statements grouped greedily while their span stays within limit lines."""
    groups: list[list[ast.stmt]] = []
    current: list[ast.stmt] = []
    for node in body:
        if current and node.end_lineno - _statement_start(current[0]) > limit:
            groups.append(current)
            current = []
        current.append(node)
    if current:
        groups.append(current)
    return groups


def cut_snippets(lines: list[str], tree: ast.Module, file_index: int,
                 limit: int = MAX_SNIPPET_LINES) -> list[Snippet]:
    """Snippets covering a parsed file: sibling runs within `limit` lines that compile alone."""
    out: list[Snippet] = []

    def visit(body: list[ast.stmt], indented: bool) -> None:
        for group in _group_siblings(body, limit):
            start, end = _statement_start(group[0]), group[-1].end_lineno
            if end - start <= limit:
                text = "".join(lines[start:end])
                if compiles((INDENTED_HEADER if indented else "") + text):
                    out.append(Snippet(file_index, start, end, indented))
                continue
            for node in group:  # one statement too long: go inside it
                for child in _child_bodies(node):
                    visit(child, True)

    visit(tree.body, False)
    return out


class Corpus:
    """The source files of one split and their snippets."""

    def __init__(self, split: str, root: Path | None = None, max_files: int | None = None,
                 snippet_lines: int = MAX_SNIPPET_LINES):
        if split not in ("train", "heldout", "all"):
            raise ValueError("split must be 'train', 'heldout' or 'all' (every file, for code from other projects)")
        self.root = root or stdlib_root()
        self.split = split
        self.files: list[SourceFile] = []
        self.snippets: list[Snippet] = []
        paths = [p for p in list_source_files(self.root) if split in ("all", split_of(p))]
        if max_files is not None:
            paths = paths[:max_files]
        for rel in paths:
            try:
                text = (self.root / rel).read_text(encoding="utf-8")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tree = ast.parse(text)
            except (UnicodeDecodeError, SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            lines = split_lines(text)
            if not lines or not compiles(text):
                continue
            snippets = cut_snippets(lines, tree, len(self.files), snippet_lines)
            if snippets:
                self.files.append(SourceFile(rel, lines))
                self.snippets.extend(snippets)
        if not self.snippets:
            raise ValueError(f"no usable source files in the {split} split under {self.root}")
        self._cumulative = np.cumsum([s.n_lines for s in self.snippets])

    def sample_snippet(self, rng: np.random.Generator) -> Snippet:
        """A snippet, chosen with probability proportional to its number of lines."""
        index = int(np.searchsorted(self._cumulative, rng.integers(self._cumulative[-1]), side="right"))
        return self.snippets[index]

    def snippet_lines(self, snippet: Snippet) -> list[str]:
        return self.files[snippet.file].lines[snippet.start:snippet.end]

    def stats(self) -> dict:
        return {"split": self.split, "files": len(self.files), "snippets": len(self.snippets),
                "snippet_lines": int(self._cumulative[-1]),
                "file_lines": sum(len(f.lines) for f in self.files)}
