"""Call arity: how many calls on a rewritten line pass a number of arguments the rest of the file never does.

Where a dropped closing bracket goes back is often a question of which call
gets which arguments: ``self.assertEqual(len(w.warnings, 0)`` compiles with
the ``)`` after ``w.warnings`` or after ``0``, and only the first gives
``len`` its one argument. ``CallCounts`` records, for every callee name, the
argument counts its calls use (in the rest of the file; a builtin's own
signature counts as such a use), and ``CallCounts.mismatches`` counts the
calls of a rewritten statement that use a count no other call of that name
does, so that of two rewrites the compiler accepts, the one that calls things
as the file does can be preferred (bracket_candidates.py). Calls with
``*args`` or ``**kwargs`` say nothing and are skipped, and so is a name called
fewer than MIN_CALLS times elsewhere (a builtin then goes by its signature).
"""

from __future__ import annotations

import ast
import builtins
import inspect
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

MIN_CALLS = 2
"""Calls of a name elsewhere before their argument counts are taken as the ones it accepts: one call of a
function with a default argument says little (``Strip.blank(width)`` and ``Strip.blank(width, style)``)."""


def callee_name(call: ast.Call) -> str | None:
    """``f`` for ``f(...)``, ``.f`` for ``obj.f(...)`` (a method is not the builtin of its name); None for any
    other callee (a call's result, a subscript)."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return "." + func.attr
    return None


def argument_count(call: ast.Call) -> int | None:
    """Positional plus keyword arguments; None when a ``*`` or ``**`` argument makes the count unknown."""
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    return len(call.args) + len(call.keywords)


def calls_in(tree: ast.AST) -> list[tuple[int, str, int]]:
    """(1-based line, callee name, argument count) of every call in ``tree`` whose name and count are known."""
    return calls_among(ast.walk(tree))


def calls_among(nodes: Iterable[ast.AST]) -> list[tuple[int, str, int]]:
    """``calls_in`` over nodes already walked (one walk of a large tree serves several readers)."""
    out = []
    for node in nodes:
        if isinstance(node, ast.Call):
            name, count = callee_name(node), argument_count(node)
            if name is not None and count is not None:
                out.append((node.lineno, name, count))
    return out


@lru_cache(maxsize=None)
def builtin_counts(name: str) -> frozenset[int] | None:
    """The argument counts a builtin function accepts (from its signature), None when it has no fixed set."""
    target = getattr(builtins, name, None) if name.isidentifier() else None
    if target is None or isinstance(target, type):
        return None  # a class: its constructor's arguments vary with what it is called on
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in parameters):
        return None
    required = sum(p.default is p.empty for p in parameters)
    return frozenset(range(required, len(parameters) + 1))


@dataclass
class CallCounts:
    """The argument counts each callee name is called with, and the names the code defines."""

    counts: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    defined: set[str] = field(default_factory=set)
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """How many calls of each name were recorded."""

    @classmethod
    def of(cls, tree: ast.AST, skip: range = range(0)) -> "CallCounts":
        """The calls of ``tree`` that start on no line of ``skip`` (1-based), and every definition in it."""
        return cls.among(list(ast.walk(tree)), skip)

    @classmethod
    def among(cls, nodes: list[ast.AST], skip: range = range(0)) -> "CallCounts":
        """``of`` over the nodes of a tree already walked."""
        found = cls()
        found.add(call for call in calls_among(nodes) if call[0] not in skip)
        found.defined.update(node.name for node in nodes
                             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
        return found

    def add(self, calls: Iterable[tuple[int, str, int]]) -> None:
        for _, name, count in calls:
            self.counts[name].add(count)
            self.calls[name] += 1

    def mismatches(self, calls: Iterable[tuple[int, str, int]]) -> int:
        """How many of ``calls`` pass a count no recorded call of that name passes (a name called at least
        MIN_CALLS times; for a builtin the file does not define or call so often: one its signature does not
        accept)."""
        total = 0
        for _, name, count in calls:
            seen = self.counts.get(name) if self.calls.get(name, 0) >= MIN_CALLS else None
            if seen is None and not name.startswith(".") and name not in self.defined:
                seen = builtin_counts(name)
            total += seen is not None and count not in seen
        return total
