"""Quote candidates: where an unterminated string's closing quote goes back, found from the text alone.

For ``unterminated string literal`` the compiler points at an opening
quote; a closing one was dropped on that line (after it, or before it when
the quotes after the slip paired up wrongly: ``['a', 'b, 'c']``). Putting
that quote at each position of the line and compiling usually leaves one or
two places:
``getattr(obj, 'name, None)`` compiles as ``'name', None)`` and as
``'name, None')``. Which one was meant shows in how the code *outside* the
string then reads, so each candidate is scored (``code_oddities``) on:

- names it loads that the rest of the file never mentions (unknown_names.py);
- a string used as no string is: an attribute strings do not have
  (``'sys'.stderr``), a call (``"print"('x')``), arithmetic other than ``+``,
  ``%`` and ``*`` (``'-'-batch``), a comparison with a number (``"lat"in-1``);
- two string literals side by side on the line (``'a, '' 'b'``);
- spacing no one writes: a space before ``,`` ``.`` ``)`` or ``:`` right after
  the new quote, or two spaces in a row before the next code (not before a
  comment), unless the lines around write it the same way (``'cos' : x``).

``best_quote_repair`` takes a candidate when exactly one place compiles with no
oddity at all (and the file then compiles), or, of several such places, when
quote_ties.py's signs leave exactly one (a string that swallowed code, spacing
moved into the string, ...); otherwise the model decides (file_repair.py).
Measured on held-out files in docs/model.md ("The message searches", "Quote
ties").
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings

from dgcode.repair.canvas import split_lines
from dgcode.repair.compile_region import compiling_changes, parse_or_none
from dgcode.repair.quote_ties import code_names, tie_oddities
from dgcode.repair.repair_model import WindowRepair, syntax_error
from dgcode.repair.unknown_names import unknown_names, words_outside

UNTERMINATED = re.compile(r"^unterminated string literal")
QUOTES = "'\""
STRING_ATTRIBUTES = frozenset(dir(str)) | frozenset(dir(bytes))
ODD_SPACING = re.compile(r"^\s+[,.)\]}:]|^\S*\s{2,}[^\s#]")
STRING_ARITHMETIC = (ast.Add, ast.Mod, ast.Mult)


def _is_string(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes))) or isinstance(node, ast.JoinedStr)


def _is_number(node: ast.AST) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def string_misuses(tree: ast.AST, lineno: int) -> int:
    """Expressions spanning line ``lineno`` (1-based) that use a string literal as no string is used."""
    count = 0
    for node in ast.walk(tree):
        first, last = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if first is None or last is None or not first <= lineno <= last:
            continue
        if isinstance(node, ast.Attribute) and _is_string(node.value) and node.attr not in STRING_ATTRIBUTES:
            count += 1
        elif isinstance(node, ast.Call) and _is_string(node.func):
            count += 1
        elif (isinstance(node, ast.BinOp) and not isinstance(node.op, STRING_ARITHMETIC)
              and (_is_string(node.left) or _is_string(node.right))):
            count += 1
        elif isinstance(node, ast.Compare) and _is_string(node.left) and any(map(_is_number, node.comparators)):
            count += 1
    return count


def adjacent_strings(line: str) -> int:
    """How many times two string literals stand side by side on ``line`` (implicit concatenation)."""
    kinds = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(line.strip() + "\n").readline):
            if token.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT,
                                  tokenize.DEDENT, tokenize.ENDMARKER):
                kinds.append(token.type)
    except (tokenize.TokenError, SyntaxError):
        pass  # the line alone may end inside brackets: the tokens up to there are enough
    return sum(a == b == tokenize.STRING for a, b in zip(kinds, kinds[1:]))


def code_oddities(candidate: str, row: int, new_line: str, at: int, known: frozenset[str] | None,
                  tree: ast.AST | None = None) -> int:
    """How oddly the code outside the strings reads once line ``row`` of ``candidate`` got its quote at column
    ``at``; 0 for code as people write it (1 when ``candidate`` does not parse). ``tree``: the syntax tree of
    the code around the line, when the caller has it (compile_region.py), else the whole file is parsed."""
    if tree is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                tree = ast.parse(candidate)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return 1
    return (len(unknown_names(candidate, row, 1, known)) + string_misuses(tree, row + 1)
            + adjacent_strings(new_line) + odd_spacing_after(candidate, row, new_line, at))


def odd_spacing_after(candidate: str, row: int, new_line: str, at: int) -> bool:
    """Spacing no one writes right after the new quote, unless the lines around write it the same way
    (``'cos' : x`` above ``'cosh : x``)."""
    spacing = ODD_SPACING.match(new_line[at + 1:])
    if spacing is None:
        return False
    written = new_line[at] + spacing.group(0)
    lines = split_lines(candidate)
    around = lines[max(0, row - 3):row] + lines[row + 1:row + 4]
    return not any(written in line for line in around)


def _changes(lines: list[str], error: SyntaxError) -> list[tuple[int, str, int]]:
    """(row, new line, column of the new quote) for every place on the line: the quote the compiler calls
    unterminated is often not the one that lost its partner (``['a', 'b, 'c']``: the third quote opens the
    string that never ends)."""
    row, col = (error.lineno or 1) - 1, (error.offset or 1) - 1
    if not UNTERMINATED.match(error.msg or "") or not 0 <= row < len(lines):
        return []
    line = lines[row]
    opening = next((i for i in range(max(col, 0), len(line)) if line[i] in QUOTES), None)
    if opening is None:
        return []
    quote, start, end = line[opening], len(line) - len(line.lstrip()), len(line.rstrip("\r\n"))
    return [(row, line[:at] + quote + line[at:], at) for at in range(start, end + 1)]


def best_quote_repair(source: str, error: SyntaxError, path: str = "<file>") -> tuple[int, str] | None:
    """(row, new line): the one place for the dropped closing quote that compiles with no oddity, or None. When
    several do, quote_ties.py may leave one of them (two quotes side by side give one line twice: one place)."""
    lines = split_lines(source)
    changes = _changes(lines, error)
    if not changes:
        return None
    kept, region = compiling_changes(lines, [(row, new_line) for row, new_line, _ in changes], error, path)
    kept_lines = set(kept)
    known = words_outside(source, changes[0][0], changes[0][0] + 1)
    clean: dict[str, tuple[int, list[int], ast.AST | None]] = {}  # new line -> (row, its quote columns, tree)
    odd: set[str] = set()  # a line that one of its places reads oddly at (the quote it doubles counts too)
    for row, new_line, at in changes:
        if (row, new_line) not in kept_lines or new_line in odd:
            continue
        candidate = "".join(lines[:row]) + new_line + "".join(lines[row + 1:])
        tree = region.tree({row: new_line}) if region is not None else None
        if region is not None and tree is None:
            continue
        if code_oddities(candidate, row, new_line, at, known, tree) == 0:
            clean.setdefault(new_line, (row, [], tree))[1].append(at)
        else:
            odd.add(new_line)
            clean.pop(new_line, None)
    if len(clean) > 1:
        clean = _break_tie(lines, clean)
    if len(clean) != 1:
        return None
    (new_line, (row, _, _)), = clean.items()
    if syntax_error("".join(lines[:row]) + new_line + "".join(lines[row + 1:]), path) is not None:
        return None
    return row, new_line


def _break_tie(lines: list[str], clean: dict) -> dict:
    """The clean places that show none of quote_ties.py's signs (each line with all its quote columns)."""
    row = next(iter(clean.values()))[0]
    first = next(iter(clean))
    whole = _parsed(lines, row, first)
    if whole is None:
        return clean
    names = code_names(whole, row)
    left = {}
    for new_line, (row, columns, tree) in clean.items():
        tree = tree if tree is not None else (whole if new_line == first else _parsed(lines, row, new_line))
        if tree is not None and all(tie_oddities(new_line, at, tree, row, names) == 0 for at in columns):
            left[new_line] = (row, columns, tree)
    return left


def _parsed(lines: list[str], row: int, new_line: str) -> ast.AST | None:
    return parse_or_none("".join(lines[:row]) + new_line + "".join(lines[row + 1:]))


def quote_window(source: str, error: SyntaxError, path: str = "<file>") -> WindowRepair | None:
    """``best_quote_repair`` as a rewrite of its one line, for file_repair.py (which times the search)."""
    best = best_quote_repair(source, error, path)
    return None if best is None else WindowRepair.one_line(source, best[0], best[1])
