"""Unknown names a repair leaves: a rewrite that compiles but loads a name the rest of the file never mentions.

Many slips join two names when they drop a character: a deleted bracket turns
``chars[i]`` into ``charsi]`` and ``set(to_fds)`` into ``setto_fds)``. The
compiler then reports the stray closing bracket, and deleting it compiles too
(``charsi``), so the compiler cannot tell that repair from the meant one; but
the repaired line now loads a name that nothing defines. On held-out files
that was 5 of 12 wrong missing-bracket repairs that compiled, in a sample read
by hand (docs/model.md, "Unknown names").

``unknown_names`` finds them: the names loaded on the rewritten lines that are
not Python builtins or module dunders, are not bound on those lines (an
assignment, a ``for`` target, a parameter, an import, ...), and do not appear
as a word anywhere else in the file, code, comments and strings alike (so a
name defined in a way this check does not follow, or by another module, still
counts as known wherever it is mentioned twice). A file with a star import is
not checked. The file is parsed only when a word on the rewritten lines is
new to the rest of it, and then only the statements overlapping those lines are walked.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import warnings
from typing import Iterable

from dgcode.repair.canvas import split_lines

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
STAR_IMPORT = re.compile(r"^\s*from\s+\S+\s+import\s+\*", re.MULTILINE)
IMPLICIT = frozenset(dir(builtins)) | {"__file__", "__name__", "__doc__", "__spec__", "__loader__",
                                       "__package__", "__path__", "__builtins__", "__class__", "__annotations__",
                                       "__dict__", "__module__", "__qualname__", "__cached__", "__debug__"}


def words_outside(source: str, start: int, end: int) -> frozenset[str] | None:
    """Every identifier-like word of ``source`` outside lines [start, end) (0-based); None when the file has a
    star import (then any name may be defined and nothing is checked)."""
    if STAR_IMPORT.search(source):
        return None
    return words_around(split_lines(source), start, end)


def words_around(lines: list[str], start: int, end: int) -> frozenset[str]:
    """Every identifier-like word of the file ``lines`` outside lines [start, end), star import or not."""
    return frozenset(WORD.findall("".join(lines[:start]))) | frozenset(WORD.findall("".join(lines[end:])))


def unknown_names(candidate: str, start: int, count: int, known: frozenset[str] | None) -> tuple[str, ...]:
    """The unknown names loaded on lines [start, start + count) (0-based) of ``candidate``, a source that
    compiles, in order of first use; ``known`` is ``words_outside`` of the file around those lines."""
    if not _new_word_set(candidate, start, count, known):
        return ()  # every word on the lines is known (or nothing is checked): nothing to parse, the common case
    first, last = start + 1, start + count  # ast's 1-based line numbers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = ast.parse(candidate)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return ()
    loaded: list[str] = []
    bound: set[str] = set()
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        for child in ast.iter_child_nodes(node):
            low, high = getattr(child, "lineno", None), getattr(child, "end_lineno", None)
            if low is not None and high is not None and (high < first or low > last):
                continue  # wholly outside the rewritten lines
            pending.append(child)
            if low is not None and not first <= low <= last:
                continue  # spans the lines: its parts are looked at, it binds or loads nothing here itself
            if isinstance(child, ast.Name):
                (loaded.append if isinstance(child.ctx, ast.Load) else bound.add)(child.id)
            else:
                bound.update(bound_by(child))
    unknown: dict[str, None] = {}
    for name in loaded:
        if name not in known and name not in bound and name not in IMPLICIT:
            unknown[name] = None
    return tuple(unknown)


def new_words(candidate: str, start: int, count: int, known: frozenset[str] | None) -> int:
    """How many distinct words on lines [start, start + count) (0-based) of ``candidate`` the rest of the file
    never mentions (attributes and keyword arguments too; not keywords or builtins); 0 when nothing is checked.
    Of two rewrites that both compile, the one that leaves more new words is the one that kept two names joined
    (``self.assertEqual0, x)`` put in brackets whole rather than split into ``assertEqual(0, x)``)."""
    return len(_new_word_set(candidate, start, count, known))


def _new_word_set(candidate: str, start: int, count: int, known: frozenset[str] | None) -> set[str]:
    """The words on lines [start, start + count) of ``candidate`` that are not in ``known``, keywords or builtins
    (empty when ``known`` is None: a star import, nothing is checked)."""
    if known is None or count <= 0:
        return set()
    return set(WORD.findall("".join(split_lines(candidate)[start:start + count]))) - known - IMPLICIT - KEYWORDS


def bound_names(tree: ast.AST) -> set[str]:
    """Every name ``tree`` binds anywhere (assignments, ``for`` targets, parameters, definitions, imports...)."""
    return bound_among(ast.walk(tree))


def bound_names_in(nodes: list[ast.AST]) -> set[str]:
    """Every name the subtrees ``nodes`` bind."""
    return bound_among(node for top in nodes for node in ast.walk(top))


def bound_among(nodes: Iterable[ast.AST]) -> set[str]:
    """The names these nodes (already walked) bind themselves."""
    bound: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        else:
            bound.update(bound_by(node))
    return bound


def undefined_loads(nodes: list[ast.AST], lines: range, bound: set[str]) -> int:
    """How many distinct names the subtrees ``nodes`` load on ``lines`` (1-based) that nothing in ``bound`` binds
    and that are not builtins: a call of ``drive(base)`` made by splitting ``splitdrive(base)``."""
    loaded = {node.id for top in nodes for node in ast.walk(top)
              if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.lineno in lines}
    return len(loaded - bound - IMPLICIT)


def bound_by(node: ast.AST) -> tuple[str, ...]:
    """The names ``node`` itself binds (other than through an ``ast.Name`` target)."""
    if isinstance(node, ast.arg):
        return (node.arg,)
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return (node.name,)
    if isinstance(node, ast.alias):
        return (node.asname or node.name.split(".")[0],)
    if isinstance(node, (ast.Global, ast.Nonlocal)):
        return tuple(node.names)
    if isinstance(node, ast.ExceptHandler) and node.name:
        return (node.name,)
    if isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        return (node.name,)
    if isinstance(node, ast.MatchMapping) and node.rest:
        return (node.rest,)
    return ()
