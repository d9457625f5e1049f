"""Joined-line candidates: where a line that holds two statements is split again, found from the text alone.

A lost line break joins two statements (``s1.d = 3.14 s2 = struct.pack(...)``)
and the compiler says ``invalid syntax`` on that line. The split goes back at
one of the line's spaces, and the second statement at one of the indentation
levels open there (the same block, or one it closes). Every such split is
compiled (on the enclosing statement, compile_region.py); the lines after it
usually leave one level, and the words usually one place. What is left is
ranked by

- unreachable code: a statement right after a ``return``, ``raise``,
  ``break`` or ``continue`` in the same block (``return label`` /
  ``raise UnicodeError(...)`` split into one block);
- a statement that does nothing: an expression that is not a call, an
  ``await`` or a ``yield``, nor a string where strings document (``x = a`` /
  ``b`` made of ``x = a b``, or ``assert x`` / ``'message'``: a missing comma,
  not a lost line break);
- scope oddities of the two statements (scope_oddities.py): a name nothing
  in the new scope binds.

Only spaces outside brackets and strings are tried (a split inside brackets
changes nothing the compiler minds).

``best_joined_split`` takes a split only when exactly one has neither;
otherwise the model decides (file_repair.py). Nothing here runs the model.
"""

from __future__ import annotations

import ast
import re
import warnings

from dgcode.repair.canvas import apply_answer, split_lines
from dgcode.repair.compile_region import compiling_changes
from dgcode.repair.indent_candidates import INDENT_CHARS, logical_lines, open_levels
from dgcode.repair.repair_model import WindowRepair, syntax_error
from dgcode.repair.scope_oddities import declared_globals, scope_oddities
from dgcode.repair.slip_candidates import indent_unit
from dgcode.repair.unknown_names import STAR_IMPORT

INVALID = re.compile(r"^invalid syntax$")
"""A lost line break is plain `invalid syntax` (`Perhaps you forgot a comma?` comes inside brackets)."""
ENDS_BLOCK = (ast.Return, ast.Raise, ast.Break, ast.Continue)
BODIES = ("body", "orelse", "finalbody")
MAX_SPLITS = 200
"""Splits compiled at most (a line of a hundred spaces is left to the model)."""


def block_at(tree: ast.AST, lineno: int) -> tuple[ast.AST, list[ast.stmt], int] | None:
    """(the node whose block it is, the block, the index in it) of the statement starting on line ``lineno``
    (1-based), found by going down only the statements that span the line; None when no statement starts there."""
    node: ast.AST = tree
    while True:
        blocks = [(node, getattr(node, field)) for field in BODIES if isinstance(getattr(node, field, None), list)]
        blocks += [(part, part.body) for part in getattr(node, "handlers", []) + getattr(node, "cases", [])]
        inner = None
        for owner, block in blocks:
            for index, statement in enumerate(block):
                if statement.lineno == lineno:
                    return owner, block, index
                if statement.lineno < lineno <= (statement.end_lineno or statement.lineno):
                    inner = statement
        if inner is None:
            return None
        node = inner


def unreachable(tree: ast.AST, lineno: int) -> bool:
    """Whether the statement starting on line ``lineno`` (1-based) follows a return, raise, break or continue
    in the same block."""
    found = block_at(tree, lineno)
    return found is not None and found[2] > 0 and isinstance(found[1][found[2] - 1], ENDS_BLOCK)


def does_nothing(tree: ast.AST, lineno: int) -> bool:
    """Whether the statement starting on line ``lineno`` (1-based) is an expression that does nothing: not a
    call, ``await`` or ``yield``, nor a string where strings document (a block's first statement, or after an
    assignment in a module or class body)."""
    found = block_at(tree, lineno)
    if found is None or not isinstance(found[1][found[2]], ast.Expr):
        return False
    owner, block, index = found
    value = block[index].value
    if isinstance(value, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)):
        return False
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return not (index == 0 or (isinstance(owner, (ast.Module, ast.ClassDef))
                                   and isinstance(block[index - 1], (ast.Assign, ast.AnnAssign))))
    return True


def top_level_spaces(text: str) -> list[int]:
    """The columns of ``text`` (one line) holding a single space between two non-spaces, outside strings and
    brackets (a closer of a bracket opened on an earlier line counts as closing it)."""
    out, depth, quote, at = [], 0, "", 0
    while at < len(text):
        char = text[at]
        if quote:
            if char == "\\":
                at += 2
                continue
            if text.startswith(quote, at):
                at += len(quote)
                quote = ""
                continue
        elif char == "#":
            break
        elif char in "'\"":
            quote = char * 3 if text.startswith(char * 3, at) else char
            at += len(quote)
            continue
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif (char == " " and depth == 0 and 0 < at < len(text) - 1 and text[at - 1] not in " \t"
              and text[at + 1] != " "):
            out.append(at)
        at += 1
    return out


def _splits(lines: list[str], row: int) -> list[tuple[int, str]]:
    """(row, the line split in two) at every single space between two non-spaces, the second part at each
    indentation level open after the line."""
    logical = logical_lines(lines[:row + 1], open_end=True)  # what is open after the row's statement
    if not logical:
        return []
    here = max((j for j, line in enumerate(logical) if line.row <= row), default=None)
    if here is None:
        return []
    levels = open_levels(logical, here, indent_unit(lines))
    if levels is None:
        return []
    line = lines[row]
    body_start = len(line) - len(line.lstrip(INDENT_CHARS))
    ending = line[len(line.rstrip("\r\n")):] or "\n"
    text = line.rstrip("\r\n")
    out = []
    for at in top_level_spaces(text):
        if at > body_start:
            for level in levels:
                out.append((row, text[:at] + ending + " " * level + text[at + 1:] + ending))
    return out if len(out) <= MAX_SPLITS else []


def best_joined_split(source: str, error: SyntaxError, path: str = "<file>") -> tuple[int, str] | None:
    """(row, the two lines that replace it): the one split that compiles with no unreachable statement, no
    statement that does nothing and no scope oddity, or None."""
    if not INVALID.match(error.msg or "") or isinstance(error, IndentationError):
        return None
    lines = split_lines(source)
    row = (error.lineno or 1) - 1
    if not 0 <= row < len(lines):
        return None
    kept, _ = compiling_changes(lines, _splits(lines, row), error, path)
    if not kept:
        return None
    check_names = not STAR_IMPORT.search(source)
    globals_declared = declared_globals(source)
    clean = []
    for changed_row, new_lines in kept:
        candidate = apply_answer(source, (changed_row, changed_row + 1), (new_lines,))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                tree = ast.parse(candidate)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
        if unreachable(tree, changed_row + 2) or any(does_nothing(tree, changed_row + k) for k in (1, 2)):
            continue
        if scope_oddities(tree, changed_row + 1, changed_row + 2, check_names, globals_declared):
            continue
        clean.append((changed_row, new_lines, candidate))
        if len(clean) > 1:
            return None
    if len(clean) != 1 or syntax_error(clean[0][2], path) is not None:
        return None
    return clean[0][0], clean[0][1]


def joined_window(source: str, error: SyntaxError, path: str = "<file>") -> WindowRepair | None:
    """``best_joined_split`` as a rewrite of its one line (into two), for file_repair.py (which times it)."""
    best = best_joined_split(source, error, path)
    if best is None:
        return None
    row, new_lines = best
    old = split_lines(source)[row]
    return WindowRepair(row, row + 1, (old,), tuple(split_lines(new_lines)), steps=0, tokens=0, wall_s=0.0)
