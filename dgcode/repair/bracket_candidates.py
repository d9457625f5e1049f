"""Bracket candidates: the repairs of an unbalanced bracket the compiler's message points at, found from the text alone.

Three compiler messages name a bracket and where it is:

- ``unmatched ')'``: a closer with no opener. Either the closer is stray
  (delete it, or one like it before it on the line: ``breaks=()), frame=None)``
  reports the last) or its opener was dropped somewhere before it on that line
  (``os.removeself.fname)`` for ``os.remove(self.fname)``);
- ``'(' was never closed``: an opener with no closer. Either the opener is
  stray (or one like it after it on the line) or its closer was dropped after
  it, on that line or a few below (``f(a,`` / ``  b=1`` for ``f(a,`` /
  ``  b=1)``);
- ``closing parenthesis ']' does not match opening parenthesis '('``: the
  ``(``'s closer was dropped before the ``]``, or the ``]``'s opener after the
  ``(``, or the ``]`` is stray.

Two more may come from a dropped bracket though they name none
(bracket_sites.py): ``invalid syntax`` on a line that opens a bracket it does
not close before the column reported (``with self.assertRaises(TypeError as
err:``: the closer goes between them), and ``unexpected indent`` on a call's
arguments (``self.check`` / ``    1, 2)``: the opener goes on the line above);
``unmatched ')'`` on such an indented line gets those openers too.

``bracket_candidates`` lists every such one-character change (a bracket put
at each position of the lines named, or the named bracket deleted) and keeps
those after which the code compiles (judged on the enclosing statement,
compile_region.py). ``best_bracket_repair`` then prefers, in order:

0. no decorator that is two decorators joined (``@t.register(str`` /
  ``)@classmethod`` compiles as a matrix product);
1. the fewest names loaded that nothing in the file binds and no builtin is
   (unknown_names.undefined_loads): ``os.path.split(drive(base))`` made of
   ``os.path.splitdrive(base))`` loads ``drive``, which nothing defines;
2. the fewest shapes code almost never holds (expression_oddities.py): a
   value computed and thrown away (``self.test_write``), a literal or a
   builtin's result called (``iter(range)(5)``), a keyword a builtin does not
   take (``max(size=2048)``), an attribute or name called where the file only
   reads it;
3. the fewest words the rest of the file never mentions
   (unknown_names.new_words): a dropped bracket joins its neighbours
   (``removeself``), and the change that splits them again leaves fewer;
4. the fewest calls with an argument count the file never uses
   (call_arity.py): ``len(w.warnings), 0`` over ``len(w.warnings, 0)``;

and takes a repair only when one *meaning* is left: rewrites whose changed
statement has the same syntax tree (``(x)`` and ``x``, ``( x`` and ``(x``)
are one meaning, written the plainest way (the deletion if it is one, else a
bracket that leaves its line at an indentation in use around it, with no space
on its inner side). Two meanings left, or a best one that still joins two
decorators, calls something with a count the file never uses or loads a name
nothing binds, and it gives none: the model decides (file_repair.py). It checks the repair it gives by compiling the
whole file. Nothing here runs the model.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, replace

from dgcode.repair.bracket_sites import CLOSER_OF, OPENER_OF, closers_before_error, openers_above, rows_below
from dgcode.repair.call_arity import CallCounts, calls_in
from dgcode.repair.canvas import split_lines
from dgcode.repair.compile_region import CompileRegion, compiling_changes, parse_or_none
from dgcode.repair.expression_oddities import LoadUses, expression_oddities
from dgcode.repair.repair_model import WindowRepair, syntax_error
from dgcode.repair.unknown_names import (
    IMPLICIT,
    STAR_IMPORT,
    bound_among,
    bound_names_in,
    new_words,
    undefined_loads,
    words_around,
)

UNMATCHED = re.compile(r"^unmatched '([)\]}])'$")
NEVER_CLOSED = re.compile(r"^'([(\[{])' was never closed$")
MISMATCHED = re.compile(
    r"^closing parenthesis '([)\]}])' does not match opening parenthesis '([(\[{])'(?: on line (\d+))?$")
INVALID = re.compile(r"^invalid syntax$")
UNEXPECTED_INDENT = re.compile(r"^unexpected indent$")
LINES_AFTER = 3
"""Lines below an unclosed opener where its closer may have been dropped (a call's arguments, one per line)."""
MAX_SPAN = 12
"""Lines between a mismatched opener and closer that are searched; a longer span is left to the model."""


@dataclass(frozen=True)
class BracketCandidate:
    """One repair that compiles: line ``row`` (0-based) becomes ``new_line``. ``new_words``: the words on the
    lines searched that the rest of the file never mentions; ``arity_mismatches``: calls in the changed
    statement with an argument count the file never uses; ``undefined_names``: names it loads that nothing in
    the file binds; ``joined_decorators``: its decorators that are two joined by ``@`` (``_is_joined_decorator``);
    ``oddities``: the shapes in it code almost never holds (expression_oddities.py); ``meaning``: the changed
    statement's syntax tree (its own lines, not the blocks under it). The last five are filled in by
    ``_judged``."""

    row: int
    new_line: str
    new_words: int
    arity_mismatches: int = 0
    undefined_names: int = 0
    joined_decorators: int = 0
    oddities: int = 0
    meaning: str = ""

    @property
    def rank_key(self) -> tuple[int, int, int, int, int]:
        return self.joined_decorators, self.undefined_names, self.oddities, self.new_words, self.arity_mismatches

    def applied_to(self, source: str) -> str:
        lines = split_lines(source)
        lines[self.row] = self.new_line
        return "".join(lines)


def _code_end(line: str) -> int:
    return len(line.rstrip("\r\n"))


def _changes(lines: list[str], error: SyntaxError) -> list[tuple[int, str]]:
    """(row, new line) for every one-bracket change the message allows; [] for another message."""
    message, row, col = error.msg or "", (error.lineno or 1) - 1, (error.offset or 1) - 1
    if not 0 <= row < len(lines):
        return []
    line = lines[row]
    out: list[tuple[int, str]] = []

    def insert_each(at_row: int, char: str, first: int, last: int) -> None:
        text = lines[at_row]
        out.extend((at_row, text[:p] + char + text[p:]) for p in range(first, min(last, _code_end(text)) + 1))

    def delete_each(char: str, first: int, last: int) -> None:
        out.extend((row, line[:p] + line[p + 1:]) for p in range(first, min(last, _code_end(line))) if line[p] == char)

    def delete_named(char: str) -> None:
        delete_each(char, col, col + 1)

    if match := UNMATCHED.match(message):
        closer = match.group(1)
        delete_named(closer)
        delete_each(closer, 0, col)
        insert_each(row, OPENER_OF[closer], 0, col)
        out.extend(openers_above(lines, row))
    elif match := NEVER_CLOSED.match(message):
        opener = match.group(1)
        delete_named(opener)
        delete_each(opener, col + 1, len(line))
        insert_each(row, CLOSER_OF[opener], col + 1, len(line))
        for below, first in rows_below(lines, row, LINES_AFTER):
            insert_each(below, CLOSER_OF[opener], first, len(lines[below]))
    elif match := MISMATCHED.match(message):
        closer, opener = match.group(1), match.group(2)
        first_row = int(match.group(3)) - 1 if match.group(3) else row
        if not 0 <= first_row <= row or row - first_row > MAX_SPAN:
            return []
        delete_named(closer)
        for at_row in range(first_row, row + 1):
            last = col if at_row == row else len(lines[at_row])
            insert_each(at_row, CLOSER_OF[opener], 0, last)
            insert_each(at_row, OPENER_OF[closer], 0, last)
    elif INVALID.match(message):
        out.extend(closers_before_error(lines, row, col))
    elif UNEXPECTED_INDENT.match(message):
        out.extend(openers_above(lines, row))
    return out


def _search(source: str, error: SyntaxError, path: str) -> tuple[list[BracketCandidate], CompileRegion | None]:
    lines = split_lines(source)
    kept, region = compiling_changes(lines, _changes(lines, error), error, path)
    if not kept:
        return [], region
    rows = [row for row, _ in kept]
    lo, hi = min(rows), max(rows) + 1
    known = words_around(lines, lo, hi)  # star import or not: ranking needs no exemption
    found = []
    for row, new_line in kept:
        candidate = "".join(lines[:row]) + new_line + "".join(lines[row + 1:])
        found.append(BracketCandidate(row, new_line, new_words(candidate, lo, hi - lo, known)))
    return found, region


def bracket_candidates(source: str, error: SyntaxError, path: str = "<file>") -> list[BracketCandidate]:
    """The one-bracket changes named by ``error`` (``source``'s first syntax error) after which the statement
    around them compiles (the whole file when no compile region is found), in the order listed; [] when the
    message names no bracket."""
    return _search(source, error, path)[0]


def best_bracket_repair(source: str, error: SyntaxError, path: str = "<file>") -> BracketCandidate | None:
    """The one meaning left among ``bracket_candidates`` (see the module docstring), written the plainest way
    (``_plainness``), after which the whole file compiles; None when there is none or two meanings tie."""
    found, region = _search(source, error, path)
    if not found:
        return None
    finalists = _judged(source, found, region) if len(found) > 1 else found
    if not finalists:
        return None
    best = min(c.rank_key for c in finalists)
    top = [c for c in finalists if c.rank_key == best]
    if len({c.meaning for c in top}) != 1 or top[0].undefined_names or top[0].arity_mismatches \
            or top[0].joined_decorators:
        return None
    lines = split_lines(source)
    chosen = min(top, key=lambda c: _plainness(lines[c.row], c.new_line, _indents_around(lines, c.row)))
    return chosen if syntax_error(chosen.applied_to(source), path) is None else None


def bracket_window(source: str, error: SyntaxError, path: str = "<file>") -> WindowRepair | None:
    """``best_bracket_repair`` as a rewrite of its one line, for file_repair.py (which times the search);
    None when there is none."""
    best = best_bracket_repair(source, error, path)
    return None if best is None else WindowRepair.one_line(source, best.row, best.new_line)


def _judged(source: str, finalists: list[BracketCandidate], region: CompileRegion | None) -> list[BracketCandidate]:
    """``finalists`` with their arity mismatches, undefined names and meanings. The calls and bindings around
    the changed statements are read once from the whole file (parsed with the first finalist); each finalist's
    changed statements are parsed on the region and only their own lines walked. [] when the whole file does
    not parse with the first of them (another error elsewhere: nothing can be judged); a finalist whose region
    does not parse is dropped."""
    whole = parse_or_none(finalists[0].applied_to(source))
    if whole is None:
        return []
    spans = [_span(_statements_on(whole, row + 1), row + 1) for row in {f.row for f in finalists}]
    every_node = list(ast.walk(whole))  # walked once: a large file's tree is most of the search's time
    changed = range(min(lo for lo, _ in spans), max(hi for _, hi in spans) + 1)
    outside, loads = CallCounts.among(every_node, changed), LoadUses.among(every_node, changed)
    bound = None if STAR_IMPORT.search(source) else bound_among(every_node)
    shadowed = frozenset() if bound is None else frozenset(bound & IMPLICIT)
    judged = []
    for found in finalists:
        tree = region.tree({found.row: found.new_line}) if region else parse_or_none(found.applied_to(source))
        if tree is None:
            continue
        statements = _statements_on(tree, found.row + 1)
        first, last = _span(statements, found.row + 1)
        lines = range(first, last + 1)
        header = [node for statement in statements for node in _header_nodes(statement)]
        inside = [call for node in header for call in calls_in(node) if call[0] in lines]
        undefined = 0 if bound is None else undefined_loads(header, lines, bound | bound_names_in(header))
        joined = sum(_is_joined_decorator(d) for s in statements for d in getattr(s, "decorator_list", ()))
        own = [node for top in header for node in ast.walk(top)]
        judged.append(replace(found, arity_mismatches=outside.mismatches(inside), undefined_names=undefined,
                              joined_decorators=joined,
                              oddities=expression_oddities(statements, own, loads, shadowed),
                              meaning="\n".join(_header_dump(s) for s in statements)))
    return judged


def _is_joined_decorator(node: ast.expr) -> bool:
    """Whether decorator ``node`` is two decorators made one by a bracket left open across their lines: a
    matrix product whose sides start on different lines (``@t.register(str`` / ``)@classmethod`` reads as
    ``t.register(str) @ classmethod``, and ``@t.register(str`` / ``@classmethod)`` as ``t.register(str @
    classmethod)``)."""
    return any(isinstance(part, ast.BinOp) and isinstance(part.op, ast.MatMult)
               and part.left.lineno < part.right.lineno for part in ast.walk(node))


def _span(statements: list[ast.stmt], lineno: int) -> tuple[int, int]:
    """The 1-based lines of ``statements``' own text (their blocks left out); ``lineno`` alone when none."""
    return (min((_first_line(s) for s in statements), default=lineno),
            max((_header_end(s) for s in statements), default=lineno))


def _first_line(node: ast.stmt) -> int:
    """The first line (1-based) of ``node``'s text: its first decorator's, for a decorated def or class."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])


def _header_nodes(node: ast.AST) -> list[ast.AST]:
    """The parts of statement ``node`` that are not blocks of statements under it (an ``except`` or ``case``
    clause's own parts included)."""
    out: list[ast.AST] = []
    for _, value in ast.iter_fields(node):
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (ast.excepthandler, ast.match_case)):
                out.extend(_header_nodes(item))
            elif isinstance(item, ast.AST) and not isinstance(item, ast.stmt):
                out.append(item)
    return out


def _header_end(node: ast.stmt) -> int:
    """The last line (1-based) of ``node`` that is not in a block of statements under it."""
    body = getattr(node, "body", None)
    if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
        return max(node.lineno, body[0].lineno - 1)
    return node.end_lineno or node.lineno


def _header_dump(node: ast.AST) -> str:
    """``ast.dump`` of ``node`` without the blocks of statements under it (a class's body is the same in every
    candidate, and long)."""
    parts = []
    for name, value in ast.iter_fields(node):
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            continue
        if isinstance(value, list) and value and isinstance(value[0], (ast.excepthandler, ast.match_case)):
            parts.append(f"{name}=[{', '.join(_header_dump(v) for v in value)}]")
        elif isinstance(value, list):
            parts.append(f"{name}=[{', '.join(ast.dump(v) if isinstance(v, ast.AST) else repr(v) for v in value)}]")
        elif isinstance(value, ast.AST):
            parts.append(f"{name}={ast.dump(value)}")
        else:
            parts.append(f"{name}={value!r}")
    return f"{type(node).__name__}({', '.join(parts)})"


def _statements_on(tree: ast.AST, lineno: int) -> list[ast.stmt]:
    """The innermost statements spanning line ``lineno`` (1-based): for a block header, the block itself."""
    out: list[ast.stmt] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        inner = [child for child in _statements_under(node)
                 if _first_line(child) <= lineno <= (child.end_lineno or child.lineno)]
        if inner:
            pending.extend(inner)
        elif isinstance(node, ast.stmt):
            out.append(node)
    return out


def _statements_under(node: ast.AST) -> list[ast.stmt]:
    """The statements directly in ``node``'s blocks, an ``except`` or ``case`` clause's included."""
    out = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            out.append(child)
        elif isinstance(child, (ast.excepthandler, ast.match_case)):
            out.extend(c for c in ast.iter_child_nodes(child) if isinstance(c, ast.stmt))
    return out


def _plainness(old: str, new: str, indents: set[int]) -> tuple[int, int, int, int]:
    """How plainly ``new`` (``old`` with one bracket put in or deleted) is written, lower first: a deletion,
    then a bracket at the start of its line that leaves the line at an indentation the lines around it use
    (``        ) -> T`` under a ``def`` at 8, not ``)         -> T`` or ``         )-> T``), then none with a
    space on its inner side (``( x`` or ``x )``), then the least indentation taken away."""
    if len(new) <= len(old):
        return 0, 0, 0, 0
    at = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), len(old))
    indent = len(old) - len(old.lstrip(" \t"))
    char = new[at]
    inner = new[at + 1:at + 2] if char in CLOSER_OF else new[at - 1:at] if at > indent else ""
    return 1, int(at <= indent and at not in indents), int(inner == " "), max(0, indent - at)


def _indents_around(lines: list[str], row: int, reach: int = 10) -> set[int]:
    """The indentations of the code lines within ``reach`` of ``row`` (``row`` itself not counted)."""
    near = lines[max(0, row - reach):row] + lines[row + 1:row + 1 + reach]
    return {len(text) - len(text.lstrip(" ")) for text in near if text.strip() and not text.lstrip().startswith("#")}