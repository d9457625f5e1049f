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
LATE_ERRORS = 4
"""Times a region that fails otherwise than the file, not above the lines changed (its end cut a string), is
extended before it is dropped."""
NONLOCAL = re.compile(r"[ \t]*nonlocal\b")
CONTEXT = re.compile(r"\b(?:return|yield|await)\b|^[ \t]*async[ \t]+(?:for|with)\b")
"""Words that compile only inside a function (``async for`` and ``await`` inside an ``async def``)."""
CLOSERS = (")", "]", "}")
CLAUSE_WORDS = ("elif", "else", "except", "finally")
CLAUSE = re.compile(rf"(?:{'|'.join(CLAUSE_WORDS)})\b")
"""A clause continues the statement above it (``except`` after ``try``): a region cannot start there."""


def parse_or_none(text: str) -> ast.Module | None:
    """``text``'s syntax tree, None when it does not parse (warnings silenced: a candidate may hold odd code)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None


def indent_of(line: str) -> int:
    """The spaces ``line`` starts with."""
    return len(line) - len(line.lstrip(" "))


def is_code(line: str) -> bool:
    """Whether ``line`` holds code: not blank, not only a comment."""
    body = line.strip()
    return bool(body) and not body.startswith("#")


def _floor(lines: list[str], lo: int, hi: int) -> int:
    """The least indentation of the code lines in [lo, hi) (``lo``'s own when none is code)."""
    return min((indent_of(lines[r]) for r in range(lo, min(hi, len(lines))) if is_code(lines[r])),
               default=indent_of(lines[lo]))


def _text_start(lines: list[str], lo: int, hi: int, floor: int | None = None) -> int:
    """The region's start read from indentation alone: the nearest line at or above ``lo`` at column 0 (not a
    clause), or the nearest ``def``/``class`` no deeper than every code line from it down to ``hi`` (``floor``
    deep at most when given). One at the depth of lines below it is their sibling: the region is a run of
    statements at that depth (see ``_needs_outer``)."""
    floor = _floor(lines, lo, hi) if floor is None else floor
    row = lo
    while row > 0:
        text = lines[row]
        if is_code(text):
            depth = indent_of(text)
            if (depth == 0 and not CLAUSE.match(text)) or (depth <= floor and text.lstrip(" ").startswith(HEADERS)):
                return row
            floor = min(floor, depth)
        row -= 1
    return 0


def _needs_outer(lines: list[str], start: int, end: int) -> bool:
    """Whether lines [start, end) compile only inside the function around them: a ``return``, ``yield`` or
    ``await`` at the start's own depth below it (the start is a sibling ``def``), or a ``nonlocal`` whose
    function is the start itself or not inside a function the region starts with."""
    depth = indent_of(lines[start])
    in_function = lines[start].lstrip(" ").startswith(("def ", "async def "))
    for row in range(start + 1, end):
        text = lines[row]
        if not is_code(text):
            continue
        if indent_of(text) == depth and CONTEXT.search(text):
            return True
        if NONLOCAL.match(text) and (not in_function or _header_above(lines, row) == start):
            return True
    return False


def _header_above(lines: list[str], row: int) -> int:
    """The nearest ``def``/``class`` line above ``row`` that ``row`` is inside of (-1 when none)."""
    floor = indent_of(lines[row])
    for above in range(row - 1, -1, -1):
        text = lines[above]
        if is_code(text) and indent_of(text) < floor:
            if text.lstrip(" ").startswith(HEADERS):
                return above
            floor = indent_of(text)
    return -1


def _token_start(lines: list[str], lo: int, hi: int) -> int | None:
    """The region's start read from the tokens of lines [0, lo]: only rows that begin a logical line count
    (no deeper than the code lines of [lo, hi), as in ``_text_start``)."""
    starts: list[tuple[int, int, bool, bool]] = []  # (row, indentation, is a def/class, is a clause)
    at_line_start = True
    try:
        for token in tokenize.generate_tokens(io.StringIO("".join(lines[:lo + 1])).readline):
            if token.type in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
                at_line_start = True
            elif token.type not in (tokenize.NL, tokenize.COMMENT) and at_line_start:
                at_line_start = False
                row = token.start[0] - 1
                starts.append((row, token.start[1], token.string in ("def", "class", "async"),
                               token.string in CLAUSE_WORDS))
    except (tokenize.TokenError, SyntaxError):
        pass
    floor = _floor(lines, lo, hi)
    for row, depth, header, clause in reversed(starts):
        if (depth == 0 and not clause) or (header and depth <= floor):
            return row
        floor = min(floor, depth)
    return None


class CompileRegion:
    """Lines [start, end) of a file, dedented by ``depth``: compiled with one or more lines changed."""

    def __init__(self, lines: list[str], start: int, end: int):
        self.lines, self.start, self.end = lines, start, end
        self.depth = indent_of(lines[start])

    @classmethod
    def around(cls, lines: list[str], lo: int, hi: int, error: SyntaxError) -> "CompileRegion | None":
        """The region around lines [lo, hi) that fails as the whole file does (``error``), or None."""
        whole = (LINE_NUMBER.sub("line N", error.msg or ""), error.lineno)
        tried = set()
        for start in (find(lines, lo, hi) for find in (_text_start, _token_start)):  # the tokens only if needed
            if start is None:
                continue
            end = cls._end(lines, start, hi)
            while indent_of(lines[start]) > 0 and _needs_outer(lines, start, end):
                outer = _text_start(lines, start, hi, floor=indent_of(lines[start]) - 1)
                if outer == start:
                    break
                start, end = outer, cls._end(lines, outer, hi)
            if start in tried:
                continue
            tried.add(start)
            for _ in range(LATE_ERRORS):
                region = cls(lines, start, end)
                alone = region.error({})
                if alone is None:
                    break
                if (LINE_NUMBER.sub("line N", alone.msg or ""), (alone.lineno or 0) + start) == whole:
                    return region
                if (alone.lineno or 1) - 1 + start < lo or end >= len(lines):
                    break
                end = cls._end(lines, start, end + 1)  # the end cut a string or bracket: reach further
        return None

    @staticmethod
    def _end(lines: list[str], start: int, hi: int) -> int:
        """The first line at or after ``hi`` that begins a statement no deeper than ``start``'s: a code line at
        that depth that neither closes a bracket (``)`` under a call's arguments) nor follows a decorator."""
        depth = indent_of(lines[start])
        end = max(hi, start + 1)
        after_decorator = lines[end - 1].lstrip(" ").startswith("@")
        while end < len(lines):
            text = lines[end]
            if is_code(text):
                body = text.lstrip(" ")
                if indent_of(text) <= depth and not after_decorator and not body.startswith(CLOSERS):
                    break
                after_decorator = body.startswith("@")
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
