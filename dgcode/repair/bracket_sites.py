"""Bracket sites: where a dropped bracket may go when the compiler's message does not name one.

bracket_candidates.py lists one-bracket changes for the three messages that
name a bracket. A dropped bracket often gives another message:

- ``invalid syntax`` at the token after the slip: ``if hasattr(p, 'x':`` or
  ``with self.assertRaises(TypeError as err:``. The line holds an opener with
  no closer before the column reported; its closer may go anywhere between
  them (``closers_before_error``), or the opener itself is stray;
- ``unexpected indent`` on a call's second line: ``self.check(`` became
  ``self.check`` and the arguments under it are indented for nothing; and
  ``unmatched ')'`` there, when that line closes the call. The brackets of
  the indented lines, read down to where the statement's indentation comes
  back, close more than they open: the opener goes somewhere on the code line
  above, or a stray closer like it there goes (``openers_above``).

Both give (row, new line) changes for compile_region.compiling_changes, as
bracket_candidates' own list does. The lines are read one at a time, skipping
strings and comments (a string left open at a line's end ends the reading).
"""

from __future__ import annotations

import io
import tokenize

from dgcode.repair.compile_region import indent_of, is_code
from dgcode.repair.indent_candidates import SPECIAL, string_end

OPENERS, CLOSERS = "([{", ")]}"
CLOSER_OF = dict(zip(OPENERS, CLOSERS))
OPENER_OF = dict(zip(CLOSERS, OPENERS))
MAX_CONTINUATION = 30
"""Indented lines read below the reported one for brackets that close more than they open; and lines read
below an unclosed opener for the strings that span lines."""


def line_brackets(line: str) -> list[tuple[int, str]]:
    """(column, bracket) for the brackets of ``line`` outside its strings and comment, in order, up to a string
    that does not end on the line."""
    out: list[tuple[int, str]] = []
    pos = 0
    while (match := SPECIAL.search(line, pos)) is not None:
        char, pos = match.group(), match.end()
        if char == "#":
            break
        if char == "\\":
            pos += 1
        elif char in OPENERS or char in CLOSERS:
            out.append((match.start(), char))
        else:
            quote = char * 3 if line.startswith(char * 3, match.start()) else char
            pos = string_end(line, match.start() + len(quote), quote)
            if pos < 0:
                break
    return out


def unclosed_before(line: str, col: int) -> list[tuple[int, str]]:
    """The openers of ``line`` before column ``col`` that nothing before ``col`` closes, outermost first; [] when
    a closer before ``col`` has no opener on the line (the line continues brackets opened above it)."""
    stack: list[tuple[int, str]] = []
    for at, char in line_brackets(line):
        if at >= col:
            break
        if char in OPENERS:
            stack.append((at, char))
        elif not stack:
            return []
        else:
            stack.pop()
    return stack


def closers_before_error(lines: list[str], row: int, col: int) -> list[tuple[int, str]]:
    """For ``invalid syntax`` at (``row``, ``col``), 0-based: each unclosed opener of the line before ``col``
    deleted, and its closer put at each position after it up to ``col``."""
    line = lines[row]
    out = []
    for at, opener in unclosed_before(line, col):
        out.append((row, line[:at] + line[at + 1:]))
        out.extend((row, line[:p] + CLOSER_OF[opener] + line[p:]) for p in range(at + 1, col + 1))
    return out


def first_unmatched_closer(lines: list[str], row: int, floor: int) -> str | None:
    """The first closer, reading down from ``row`` the lines indented deeper than ``floor`` (blank lines and
    comments skipped, at most MAX_CONTINUATION), that no opener read before it opens; None when there is none."""
    depth = 0
    for text in lines[row:row + MAX_CONTINUATION]:
        if not is_code(text):
            continue
        if indent_of(text) <= floor and depth == 0:
            break
        for _, char in line_brackets(text):
            if char in OPENERS:
                depth += 1
            elif depth == 0:
                return char
            else:
                depth -= 1
    return None


def openers_above(lines: list[str], row: int) -> list[tuple[int, str]]:
    """For ``unexpected indent`` or ``unmatched`` closer at ``row`` (0-based) under a shallower code line: when
    the lines from ``row`` close a bracket they never open, that bracket's opener put at each position of that
    code line above, and each closer like it on that line deleted (a stray one ended the statement early:
    ``check(str(ip)),`` / ``      '::1')``); [] otherwise."""
    above = row - 1
    while above >= 0 and not is_code(lines[above]):
        above -= 1
    if above < 0 or indent_of(lines[row]) <= indent_of(lines[above]):
        return []
    closer = first_unmatched_closer(lines, row, indent_of(lines[above]))
    if closer is None:
        return []
    text = lines[above]
    end = len(text.rstrip("\r\n"))
    put = [(above, text[:p] + OPENER_OF[closer] + text[p:]) for p in range(indent_of(text), end + 1)]
    return put + [(above, text[:p] + text[p + 1:]) for p in range(end) if text[p] == closer]


def rows_below(lines: list[str], row: int, count: int) -> list[tuple[int, int]]:
    """(row, first column) of the ``count`` lines below ``row`` (0-based) where the closer of a bracket opened
    on ``row`` may go: a line inside a string that spans lines (``check(src, \"""`` / the expected text /
    ``\"""``) is passed over and not counted, and the line that ends such a string counts from its end."""
    inside: dict[int, int] = {}  # row -> the column its string ends at (-1: the whole line is string)
    text = "".join(lines[row:row + MAX_CONTINUATION])
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            (first, _), (last, end_col) = token.start, token.end
            if token.type == tokenize.STRING and last > first:
                inside.update({row + r - 1: -1 for r in range(first + 1, last)})
                inside[row + last - 1] = end_col
    except (tokenize.TokenError, SyntaxError):  # the opener is never closed: the text ends inside brackets
        pass
    out: list[tuple[int, int]] = []
    below = row + 1
    while below < len(lines) and len(out) < count:
        if inside.get(below, 0) >= 0:
            out.append((below, inside.get(below, 0)))
        below += 1
    return out
