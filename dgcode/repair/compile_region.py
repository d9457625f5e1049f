"""Compile region: the enclosing function or top-level statement of a few lines, compiled alone to judge one-line changes fast.

Listing repairs from the text (bracket_candidates.py) means compiling a
hundred one-line changes of a file. A change on lines [lo, hi) cannot affect
how code outside the innermost ``def``/``class``/top-level statement around
them parses, so that statement, dedented, is compiled instead: on the
held-out files the search is asked about, 0.12 ms mean against 6.0 ms for
the whole file (this CPU, docs/model.md "The message search").

The region starts at the nearest line above ``lo`` that begins a statement at
column 0 or a ``def``/``class`` no deeper than the lines below it, and ends
before the first line after ``hi`` back at that depth. Text alone cannot tell
a line of code from a line inside a triple-quoted string, so when the region
does not fail exactly as the whole file does (the same message at the same
line), the start is found again from the tokens of the file above ``lo``
(which, the error being below, tokenize), and if the region still disagrees it
is not used (``CompileRegion.around`` returns None) and the caller compiles
whole files.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
import warnings

from dgcode.repair.canvas import split_lines
from dgcode.repair.repair_model import syntax_error

HEADERS = ("def ", "async def ", "class ")
WHOLE_FILE_LIMIT = 40
"""Changes compiled as whole files when no region fails as the file does; with more, none is judged."""
LINE_NUMBER = re.compile(r"line \d+")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_code(line: str) -> bool:
    body = line.strip()
    return bool(body) and not body.startswith("#")


def _text_start(lines: list[str], lo: int) -> int:
    """The region's start read from indentation alone."""
    floor = _indent(lines[lo])
    row = lo
    while row > 0:
        text = lines[row]
        if _is_code(text):
            depth = _indent(text)
            if depth == 0 or (depth <= floor and text.lstrip(" ").startswith(HEADERS)):
                return row
            floor = min(floor, depth)
        row -= 1
    return 0


def _token_start(lines: list[str], lo: int) -> int | None:
    """The region's start read from the tokens of lines [0, lo]: only rows that begin a logical line count."""
    starts: list[tuple[int, int, bool]] = []  # (row, indentation, is a def/class)
    at_line_start = True
    try:
        for token in tokenize.generate_tokens(io.StringIO("".join(lines[:lo + 1])).readline):
            if token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                at_line_start = True
            elif token.type not in (tokenize.NL, tokenize.COMMENT) and at_line_start:
                at_line_start = False
                row = token.start[0] - 1
                starts.append((row, token.start[1], token.string in ("def", "class", "async")))
    except (tokenize.TokenError, SyntaxError):
        pass
    floor = None
    for row, depth, header in reversed(starts):
        if depth == 0 or (header and (floor is None or depth <= floor)):
            return row
        floor = depth if floor is None else min(floor, depth)
    return None


class CompileRegion:
    """Lines [start, end) of a file, dedented by ``depth``: compiled with one or more lines changed."""

    def __init__(self, lines: list[str], start: int, end: int):
        self.lines, self.start, self.end = lines, start, end
        self.depth = _indent(lines[start])

    @classmethod
    def around(cls, lines: list[str], lo: int, hi: int, error: SyntaxError) -> "CompileRegion | None":
        """The region around lines [lo, hi) that fails as the whole file does (``error``), or None."""
        whole = (LINE_NUMBER.sub("line N", error.msg or ""), error.lineno)
        tried = set()
        for start in (find(lines, lo) for find in (_text_start, _token_start)):  # the tokens only if needed
            if start is None or start in tried:
                continue
            tried.add(start)
            region = cls(lines, start, cls._end(lines, start, hi))
            alone = region.error({})
            if alone is not None and (LINE_NUMBER.sub("line N", alone.msg or ""),
                                      (alone.lineno or 0) + start) == whole:
                return region
        return None

    @staticmethod
    def _end(lines: list[str], start: int, hi: int) -> int:
        depth = _indent(lines[start])
        end = max(hi, start + 1)
        while end < len(lines) and not (_is_code(lines[end]) and _indent(lines[end]) <= depth):
            end += 1
        return end

    def text(self, changed: dict[int, str]) -> str:
        return "".join(self._dedent(changed.get(r, self.lines[r])) for r in range(self.start, self.end))

    def error(self, changed: dict[int, str]) -> SyntaxError | None:
        """The region's first syntax error with lines ``changed`` (0-based row of the file -> new line)."""
        return syntax_error(self.text(changed))

    def tree(self, changed: dict[int, str]) -> ast.Module | None:
        """The region's syntax tree with lines ``changed``, its line numbers the file's; None if it does not
        parse. (Column offsets are the dedented ones.)"""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                tree = ast.parse(self.text(changed))
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return None
        return ast.increment_lineno(tree, self.start)

    def _dedent(self, line: str) -> str:
        """The line (or, for a change that splits a line, each of its lines) less the region's indentation."""
        if "\n" in line[:-1]:
            return "".join(map(self._dedent, split_lines(line)))
        return line[self.depth:] if line[:self.depth].strip(" ") == "" else line


def compiling_changes(lines: list[str], changes: list[tuple[int, str]], error: SyntaxError,
                      path: str = "<file>") -> tuple[list[tuple[int, str]], CompileRegion | None]:
    """The one-line changes (0-based row, new line) of the file ``lines`` (whose first error is ``error``) after
    which it compiles, judged on the region around them, or on the whole file when there is none (and then
    only up to WHOLE_FILE_LIMIT changes: more give []); and that region. Duplicates are dropped."""
    changes = list(dict.fromkeys(changes))
    if not changes:
        return [], None
    rows = [row for row, _ in changes]
    region = CompileRegion.around(lines, min(rows), max(rows) + 1, error)
    if region is None and len(changes) > WHOLE_FILE_LIMIT:
        return [], None
    kept = []
    for row, new_line in changes:
        if region is not None:
            failed = region.error({row: new_line}) is not None
        else:
            failed = syntax_error("".join(lines[:row]) + new_line + "".join(lines[row + 1:]), path) is not None
        if not failed:
            kept.append((row, new_line))
    return kept, region
