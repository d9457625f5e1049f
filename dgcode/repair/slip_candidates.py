"""Slip candidates: rewrites of the lines around a syntax error found from the text alone, for the compiler to judge.

Two slips are hard for the repair model's byte operations and easy to list
exhaustively: a misspelled keyword (``retrun x``, ``esle:``) and a line at the
wrong indentation. ``slip_candidates`` proposes, on the lines around the
reported one:

- every word that is not a keyword, appears nowhere else in the file and is
  one edit (a letter added, dropped, replaced, or two neighbours swapped)
  from a Python keyword, replaced by that keyword;
- every non-blank, non-comment line moved to another indentation level in use
  above it (the indentation of each line back to the enclosing top-level
  statement, one file indentation unit deeper after a line ending in ``:``,
  and column 0); lines indented with tabs are left alone.

It does not compile anything: file_repair.py checks the rewrites like the
model's and takes one only when it compiles and no other candidate compiles
too (costs are not given, so abstain.py counts any second compiling
candidate as a close runner-up and withholds the repair). Measured on
held-out files in docs/model.md ("Slip candidates").
"""

from __future__ import annotations

from collections import Counter

from dgcode.repair.canvas import split_lines
from dgcode.repair.repair_model import WindowRepair
from dgcode.repair.unknown_names import KEYWORDS as KNOWN_KEYWORDS
from dgcode.repair.unknown_names import WORD

KEYWORDS = tuple(sorted(KNOWN_KEYWORDS - {"_"}))
LINES_BEFORE = 3
"""Lines above the reported one whose indentation may be the slip (an indentation slip is often reported later)."""
LINES_AFTER = 1
LOOK_BACK = 40
"""How many lines above a line are read for the indentation levels in use."""
DEFAULT_UNIT = 4


def one_edit_apart(word: str, other: str) -> bool:
    """Whether `other` is `word` with one letter added, dropped or replaced, or two neighbours swapped."""
    if word == other or abs(len(word) - len(other)) > 1:
        return False
    if len(word) == len(other):
        diff = [i for i, (a, b) in enumerate(zip(word, other)) if a != b]
        if len(diff) == 1:
            return True
        return (len(diff) == 2 and diff[1] == diff[0] + 1
                and word[diff[0]] == other[diff[1]] and word[diff[1]] == other[diff[0]])
    short, long = (word, other) if len(word) < len(other) else (other, word)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1:]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def indent_unit(lines: list[str]) -> int:
    """The file's most common indentation step (a deeper line after a shallower one); 4 when there is none."""
    steps: Counter[int] = Counter()
    previous = None
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        depth = _indent(line)
        if previous is not None and depth > previous:
            steps[depth - previous] += 1
        previous = depth
    return steps.most_common(1)[0][0] if steps else DEFAULT_UNIT


def indentation_levels(lines: list[str], row: int, unit: int) -> set[int]:
    """The indentation levels a statement at `row` could have, from the lines above it."""
    levels = {0}
    for above in range(row - 1, max(-1, row - 1 - LOOK_BACK), -1):
        text = lines[above]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        depth = _indent(text)
        levels.add(depth)
        if text.rstrip().endswith(":"):
            levels.add(depth + unit)
        if depth == 0:
            break
    return levels


def _keyword_rewrites(lines: list[str], start: int, end: int, source_words: Counter[str]) -> list[tuple[int, str]]:
    out = []
    for row in range(start, end):
        for match in WORD.finditer(lines[row]):
            word = match.group()
            if len(word) < 2 or word in KEYWORDS or source_words[word] > 1:
                continue
            for kw in KEYWORDS:
                if one_edit_apart(word, kw):
                    out.append((row, lines[row][:match.start()] + kw + lines[row][match.end():]))
    return out


def _indentation_rewrites(lines: list[str], start: int, end: int) -> list[tuple[int, str]]:
    unit = indent_unit(lines)
    out = []
    for row in range(start, end):
        text = lines[row]
        body = text.lstrip(" ")
        if not body.strip() or body.startswith("#") or body.startswith("\t"):
            continue
        depth = _indent(text)
        for level in sorted(indentation_levels(lines, row, unit)):
            if level != depth:
                out.append((row, " " * level + body))
    return out


def slip_candidates(source: str, lineno: int) -> WindowRepair | None:
    """The candidate rewrites of the lines around `lineno` (1-based), as one window whose rewrites are the
    candidates (keyword spellings first, then indentation moves); None when there is none."""
    lines = split_lines(source)
    if not lines:
        return None
    row = min(max(lineno - 1, 0), len(lines) - 1)
    start, end = max(0, row - LINES_BEFORE), min(len(lines), row + LINES_AFTER + 1)
    words = Counter(WORD.findall(source))
    changes = _keyword_rewrites(lines, start, end, words) + _indentation_rewrites(lines, start, end)
    old = tuple(lines[start:end])
    rewrites, seen = [], {old}
    for changed_row, new_line in changes:
        new = list(old)
        new[changed_row - start] = new_line
        if tuple(new) not in seen:
            seen.add(tuple(new))
            rewrites.append(tuple(new))
    if not rewrites:
        return None
    return WindowRepair(start, end, old, rewrites[0], steps=0, tokens=0, wall_s=0.0,
                        alternatives=tuple(rewrites[1:]))
