"""Indentation candidates: the one line whose indentation an IndentationError points back to, found from the text alone.

``unexpected indent``, ``unindent does not match any outer indentation
level`` and ``expected an indented block`` are reported where the block
structure first breaks, which is often lines after the slip (a method's
``def`` dedented by three spaces breaks at the next method). Python's own
rule for it is small: each logical line's indentation against a stack of
open levels, a line after one ending in ``:`` deeper than the top, any other
at a level on the stack. So every one-line move is tried against that rule
alone, without compiling: each statement from MAX_BACK logical lines above
the break down to it, at each level it could have (the open levels there, or
one file indentation unit deeper after a ``:``). The few moves after which
the whole file keeps the rule are compiled, and ranked by

- the indentation steps in the file that are not the file's unit (a move that
  leaves a two-space step, or an eight-space one, is a slip left in);
- scope oddities (scope_oddities.py) of the statements between the first move
  tried and the break: a name nothing in the new scope binds, a method
  indented into the one above it, ``self`` outside a class.

``best_indent_move`` takes a move only when it is best on both counts,
with no scope oddity, and no other move ties it; otherwise the model decides
(file_repair.py), and the moves that compiled are kept for the abstention
rule there (a model rewrite is withheld when moves other than it compile).
Nothing here runs the model.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass

from dgcode.repair.canvas import apply_answer, split_lines
from dgcode.repair.repair_model import WindowRepair, syntax_error
from dgcode.repair.scope_oddities import declared_globals, scope_oddities
from dgcode.repair.slip_candidates import indent_unit
from dgcode.repair.unknown_names import STAR_IMPORT

MAX_BACK = 40
"""Logical lines above the break whose indentation may be the slip."""
MAX_COMPILED = 12
"""Moves that keep the rule and are compiled; with more, the search gives up (the layout is too loose to tell)."""
INDENT_CHARS = " \t\f"


@dataclass(frozen=True)
class LogicalLine:
    """A logical line: its first physical line (0-based), that line's indentation, and whether it ends in ``:``."""

    row: int
    indent: int
    opener: bool


@dataclass(frozen=True)
class IndentMove:
    """Line ``row`` (0-based) at ``indent`` spaces; ``odd_steps``: indentation steps of the file that are not
    its unit once moved; ``oddities``: scope oddities (filled in by ``indent_moves``)."""

    row: int
    indent: int
    new_line: str
    odd_steps: int
    oddities: int = 0


SPECIAL = re.compile(r"[#'\"()\[\]{}\\]")


def string_end(line: str, pos: int, quote: str) -> int:
    """Where the string closed by ``quote`` ends on ``line`` from ``pos`` (the index after the quote), or -1
    when it does not end on the line."""
    while True:
        found = line.find(quote, pos)
        if found < 0:
            return -1
        slashes = 0
        while found - slashes - 1 >= pos and line[found - slashes - 1] == "\\":
            slashes += 1
        if slashes % 2 == 0:
            return found + len(quote)
        pos = found + 1


def logical_lines(lines: list[str], open_end: bool = False) -> list[LogicalLine] | None:
    """The file's logical lines: the tokenizer's NEWLINE boundaries, found by scanning only for quotes,
    brackets, comments and backslashes (tokenize itself is several times slower on a large file, and stops at
    the indentation that is wrong); None when a string does not end or a statement is indented with anything
    but spaces. ``open_end``: ``lines`` may stop inside brackets, and then the unfinished last logical line is
    given too (not ending in ``:``)."""
    out: list[LogicalLine] = []
    depth, quote, start = 0, "", None  # open brackets, the open string's quote, the logical line's first row
    for row, line in enumerate(lines):
        pos, code_end = 0, len(line.rstrip("\r\n"))
        if not quote and depth == 0 and start is None:
            body = line.lstrip(INDENT_CHARS)
            if not body.strip() or body.startswith("#"):
                continue
            start = row
        continued = False
        while True:
            if quote:
                end = string_end(line, pos, quote)
                if end < 0:
                    if len(quote) == 1 and not line[:code_end].endswith("\\"):
                        return None
                    break
                pos, quote = end, ""
            match = SPECIAL.search(line, pos)
            if match is None:
                break
            char, pos = match.group(), match.end()
            if char == "#":
                code_end = match.start()
                break
            if char == "\\":
                if pos >= len(line.rstrip("\r\n")):
                    continued = True
                    break
                pos += 1
            elif char in "([{":
                depth += 1
            elif char in ")]}":
                depth = max(0, depth - 1)
            else:
                quote = char * 3 if line.startswith(char * 3, match.start()) else char
                pos = match.start() + len(quote)
        if quote or depth or continued:
            continue
        text = lines[start]
        indent = len(text) - len(text.lstrip(INDENT_CHARS))
        if text[:indent].strip(" "):
            return None
        out.append(LogicalLine(start, indent, line[:code_end].rstrip().endswith(":")))
        start = None
    if quote:
        return None
    if open_end and start is not None:
        text = lines[start]
        indent = len(text) - len(text.lstrip(INDENT_CHARS))
        if text[:indent].strip(" "):
            return None
        out.append(LogicalLine(start, indent, False))
    return out


def _step(stack: list[int], depth: int, after_opener: bool, unit: int) -> int | None:
    """One logical line at ``depth`` against the open levels ``stack`` (changed in place), by Python's rule:
    None when it breaks the rule, else 1 for an indentation step that is not ``unit``, 0 otherwise."""
    top = stack[-1]
    if after_opener:
        if depth <= top:
            return None
        stack.append(depth)
        return int(depth - top != unit)
    if depth > top:
        return None
    while depth < stack[-1]:
        stack.pop()
    return None if depth != stack[-1] else 0


def _walk(logical: list[LogicalLine], start: int, stack: list[int], unit: int,
          moved: int, indent: int) -> tuple[int, int]:
    """The rule from logical line ``start`` on, with ``stack`` open and line ``moved`` at ``indent``: (index of
    the first line that breaks it, or len(logical); the steps after ``start`` that are not ``unit``)."""
    stack = list(stack)
    odd = 0
    for j in range(start, len(logical)):
        step = _step(stack, indent if j == moved else logical[j].indent, j > 0 and logical[j - 1].opener, unit)
        if step is None:
            return j, odd
        odd += step
    return len(logical), odd


def _prefix(logical: list[LogicalLine], unit: int) -> tuple[list[list[int]], list[int]]:
    """The open levels before each logical line up to the first that breaks the rule (the last entry), and how
    many steps before each are not ``unit``; as long as ``logical`` when nothing breaks it."""
    stacks, odds = [], []
    stack, odd = [0], 0
    for j, line in enumerate(logical):
        stacks.append(list(stack))
        odds.append(odd)
        step = _step(stack, line.indent, j > 0 and logical[j - 1].opener, unit)
        if step is None:
            break
        odd += step
    return stacks, odds


def open_levels(logical: list[LogicalLine], through: int, unit: int) -> list[int] | None:
    """The indentation levels open after logical line ``through`` (an index), by the rule; None when the rule
    breaks at or before it."""
    stack = [0]
    for j in range(through + 1):
        if _step(stack, logical[j].indent, j > 0 and logical[j - 1].opener, unit) is None:
            return None
    return sorted(set(stack))


def _levels(logical: list[LogicalLine], j: int, stack: list[int], unit: int) -> list[int]:
    if j > 0 and logical[j - 1].opener:
        return [stack[-1] + unit]
    return sorted(set(stack))


def indent_moves(source: str, error: SyntaxError, path: str = "<file>") -> list[IndentMove]:
    """The one-line indentation moves after which ``source`` compiles, for an IndentationError ``error``
    (none for any other error, or when more than MAX_COMPILED keep the rule), with their odd steps and scope
    oddities."""
    if not isinstance(error, IndentationError) or isinstance(error, TabError):
        return []
    lines = split_lines(source)
    logical = logical_lines(lines)
    if not logical:
        return []
    unit = indent_unit(lines)
    stacks, odds = _prefix(logical, unit)
    broke = len(stacks) - 1
    if _walk(logical, broke, stacks[broke], unit, -1, 0)[0] != broke:
        return []  # the layout keeps the rule: the error is not about indentation alone
    following = logical[broke + 1].row if broke + 1 < len(logical) else len(lines)
    if not logical[broke].row <= (error.lineno or 1) - 1 < following:
        return []
    kept: list[IndentMove] = []
    for j in range(max(0, broke - MAX_BACK), broke + 1):
        line = logical[j]
        body = lines[line.row][line.indent:]
        for level in _levels(logical, j, stacks[j], unit):
            if level == line.indent:
                continue
            end, odd = _walk(logical, j, stacks[j], unit, j, level)
            if end == len(logical):
                kept.append(IndentMove(line.row, level, " " * level + body, odds[j] + odd))
                if len(kept) > MAX_COMPILED:
                    return []
    if not kept:
        return []
    first_line = min(move.row for move in kept) + 1
    last_line = max(max(move.row for move in kept), (error.lineno or 1) - 1) + 1
    check_names = not STAR_IMPORT.search(source)
    globals_declared = declared_globals(source)
    judged = []
    for move in kept:
        candidate = moved(source, move)
        if syntax_error(candidate, path) is not None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(candidate)
        judged.append(IndentMove(move.row, move.indent, move.new_line, move.odd_steps,
                                 scope_oddities(tree, first_line, last_line, check_names, globals_declared)))
    return judged


def best_indent_move(moves: list[IndentMove]) -> IndentMove | None:
    """The move with the fewest odd steps and the fewest scope oddities (none), when no other ties it."""
    if not moves:
        return None
    fewest_steps = min(move.odd_steps for move in moves)
    fewest_oddities = min(move.oddities for move in moves)
    best = [move for move in moves if move.odd_steps == fewest_steps and move.oddities == fewest_oddities]
    if len(best) != 1 or best[0].oddities:
        return None
    return best[0]


def moved(source: str, move: IndentMove) -> str:
    """``source`` with ``move`` made."""
    return apply_answer(source, (move.row, move.row + 1), (move.new_line,))


def indent_search(source: str, error: SyntaxError, path: str = "<file>") -> tuple[WindowRepair | None, frozenset[str]]:
    """For file_repair.py (which times it): ``best_indent_move`` as a rewrite of its one line, or None and the
    sources the moves that compiled give (empty when one is taken or none compiled)."""
    moves = indent_moves(source, error, path)
    best = best_indent_move(moves)
    if best is not None:
        return WindowRepair.one_line(source, best.row, best.new_line), frozenset()
    return None, frozenset(moved(source, move) for move in moves)
