"""Scope oddities: statements that read wrongly for the scope their indentation puts them in.

Moving a line to another indentation level can leave code that compiles but
that no one writes, because the line now sits in another scope:

- a name it loads that nothing in its scope, the functions around it or the
  module binds, and no builtin is: ``self.assertRaises(...)`` dedented out of
  a method into the class body, where there is no ``self``;
- a ``def``/``class`` that became local to a function which never uses its
  name outside it: a method indented into the method above it;
- a ``def`` whose first parameter is ``self`` outside a class body.

``scope_oddities`` counts them on the statements that start on some lines of
a parsed file; indent_candidates.py uses it to tell the one-line indentation
repairs the compiler accepts apart. Class bodies are not visible from the
methods in them, as in Python; names bound through ``globals()``, ``exec`` or
a star import are not followed (a star import turns the name check off).
"""

from __future__ import annotations

import ast
import re

from dgcode.repair.unknown_names import IMPLICIT, bound_among

SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
BLOCK_PARTS = (ast.stmt, ast.excepthandler, ast.match_case)
GLOBAL = re.compile(r"^[ \t]*global[ \t]+([A-Za-z_][\w \t,]*)", re.MULTILINE)


def declared_globals(source: str) -> frozenset[str]:
    """The names ``global`` statements in ``source`` declare (module names a function binds)."""
    return frozenset(name.strip() for match in GLOBAL.finditer(source) for name in match.group(1).split(",")
                     if name.strip())


def own_nodes(statement: ast.stmt) -> list[ast.AST]:
    """The nodes of ``statement`` itself: its expressions, not the statements of the blocks under it."""
    out: list[ast.AST] = []
    pending = list(ast.iter_child_nodes(statement))
    while pending:
        node = pending.pop()
        if isinstance(node, BLOCK_PARTS):
            continue
        out.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return out


def scope_bindings(scope: ast.AST) -> set[str]:
    """The names a module, class or function body binds itself (parameters included), not those of the
    functions, classes and lambdas inside it (only their names)."""
    bound: set[str] = set()
    if isinstance(scope, FUNCTIONS):
        bound.update(bound_among(ast.walk(scope.args)))
        pending = list(scope.body)
    elif isinstance(scope, ast.ClassDef):
        pending = list(scope.body)
    else:
        pending = list(ast.iter_child_nodes(scope))
    while pending:
        node = pending.pop()
        if isinstance(node, SCOPES):
            bound.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        bound.update(bound_among((node,)))
        pending.extend(ast.iter_child_nodes(node))
    return bound


def _loads_outside(scope: ast.AST, name: str, definition: ast.AST) -> bool:
    """Whether ``scope`` loads ``name`` anywhere but inside ``definition`` (a recursive call is no use)."""
    pending = [scope]
    while pending:
        node = pending.pop()
        if node is definition:
            continue
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load):
            return True
        pending.extend(ast.iter_child_nodes(node))
    return False


def _first_parameter(function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    params = function.args.posonlyargs + function.args.args
    return params[0].arg if params else None


def scope_oddities(tree: ast.Module, first: int, last: int, check_names: bool = True,
                   globals_declared: frozenset[str] = frozenset()) -> int:
    """How many scope oddities (see the module docstring) the statements of ``tree`` starting on lines
    [first, last] (1-based) have. ``check_names``: False for a file with a star import (any name may exist);
    ``globals_declared``: ``declared_globals`` of the file."""
    module_bound = scope_bindings(tree) | globals_declared
    cache: dict[int, set[str]] = {}

    def bindings(scope: ast.AST) -> set[str]:
        if id(scope) not in cache:
            cache[id(scope)] = scope_bindings(scope)
        return cache[id(scope)]

    def judge(statement: ast.stmt, chain: list[ast.AST]) -> int:
        count = 0
        inner = chain[-1] if chain else None
        if isinstance(statement, SCOPES) and isinstance(inner, FUNCTIONS) and not statement.decorator_list:
            count += not _loads_outside(inner, statement.name, statement)
        if (isinstance(statement, FUNCTIONS) and _first_parameter(statement) == "self"
                and not isinstance(inner, ast.ClassDef)):
            count += 1
        if check_names:
            own = own_nodes(statement)
            loaded = {node.id for node in own if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
            if loaded:
                visible = bound_among(own) | module_bound | IMPLICIT
                if inner is not None:
                    visible |= bindings(inner)
                for scope in chain[:-1]:
                    if isinstance(scope, FUNCTIONS):
                        visible |= bindings(scope)
                count += len(loaded - visible)
        return count

    total = 0
    pending: list[tuple[ast.AST, list[ast.AST]]] = [(tree, [])]
    while pending:
        node, chain = pending.pop()
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, BLOCK_PARTS):
                continue
            low, high = getattr(child, "lineno", None), getattr(child, "end_lineno", None)
            if low is not None and high is not None and (high < first or low > last):
                continue
            if isinstance(child, ast.stmt) and first <= child.lineno <= last:
                total += judge(child, chain)
            pending.append((child, chain + [child] if isinstance(child, SCOPES) else chain))
    return total
