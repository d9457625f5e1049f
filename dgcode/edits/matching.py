"""SEARCH/REPLACE matching: find the one place a SEARCH text is in a file and swap it.

Matching is line by line, at three levels tried in order (RELIABILITY #6):

``exact``
    every line identical;
``trailing_whitespace``
    lines equal once trailing spaces and tabs are dropped;
``indentation``
    the SEARCH lines are the file's lines with one uniform leading-whitespace
    prefix added or removed (blank lines match blank lines).  The REPLACE
    lines get the same shift, the added prefix copied from the file itself.

There is no similarity-ratio guessing.  Each level accepts everything the one
before it does, so a SEARCH is refused as ambiguous when it matches more than
one place at the widest level (RELIABILITY #5), unless exactly one of those
places is an exact match: then the SEARCH is the file's text, verbatim, in one
place, and that place is taken.  A SEARCH that matches nothing as written may
still apply, exactly as uniquely, in edits/search_replace.py: a spurious blank
first line dropped, or ``...`` elision.  When nothing matches, the
error names and shows the nearest region of the file so the model can retry.

SEARCH and REPLACE are whole lines.  Lines the edit leaves alone (equal in
SEARCH and REPLACE) keep the file's exact bytes, trailing whitespace and line
ending included; new lines take the file's dominant ending (RELIABILITY #10).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from enum import Enum

from dgcode.edits.errors import EditError, ErrorCode
from dgcode.edits.textfile import TextFile

HINT_MAX_LINES = 12
"""Most lines of the nearest region shown in a no-match message."""
AMBIGUOUS_MAX_LISTED = 10
"""Most places named in an ambiguity message."""
HINT_MAX_OCCURRENCES = 200
"""Lines that occur more often than this (``}``, ``end``) do not vote for a region."""


class MatchLevel(str, Enum):
    """How much tolerance a match needed, least first."""

    EXACT = "exact"
    TRAILING_WHITESPACE = "trailing_whitespace"
    INDENTATION = "indentation"


@dataclass(frozen=True)
class IndentShift:
    """A uniform leading-whitespace change from SEARCH lines to file lines."""

    prefix: str = ""
    """The whitespace that differs."""
    added: bool = True
    """True: the file has ``prefix`` before each SEARCH line; False: the SEARCH has it extra."""

    def apply(self, text: str) -> str:
        """Shift one REPLACE line the way the SEARCH lines were shifted."""
        if not self.prefix or not text.strip(" \t"):
            return text
        if self.added:
            return self.prefix + text
        if text.startswith(self.prefix):
            return text[len(self.prefix) :]
        indent = leading_whitespace(text)
        return text[len(indent) :] if self.prefix.startswith(indent) else text


@dataclass(frozen=True)
class Match:
    """Where a SEARCH text sits in a file: lines ``start:stop`` (0-based)."""

    start: int
    stop: int
    level: MatchLevel
    shift: IndentShift


def text_to_lines(text: str) -> list[str]:
    """Split edit text (``"\\n"``-terminated lines) into line texts."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def leading_whitespace(text: str) -> str:
    """The run of spaces and tabs at the start of ``text``."""
    return text[: len(text) - len(text.lstrip(" \t"))]


def _rstrip(text: str) -> str:
    return text.rstrip(" \t")


def _strip(text: str) -> str:
    return text.strip(" \t")


def _line_shift(file_line: str, search_line: str) -> IndentShift | None:
    """The shift that turns ``search_line`` into ``file_line``, if any (both rstripped)."""
    if file_line.endswith(search_line):
        prefix = file_line[: len(file_line) - len(search_line)]
        return IndentShift(prefix, True) if not _strip(prefix) else None
    if search_line.endswith(file_line):
        prefix = search_line[: len(search_line) - len(file_line)]
        return IndentShift(prefix, False) if not _strip(prefix) else None
    return None


def _shift_at(file_lines: tuple[str, ...], start: int, search: list[str]) -> IndentShift | None:
    """The uniform indentation shift making ``search`` match at ``start``, or None."""
    shift: IndentShift | None = None
    for offset, search_line in enumerate(search):
        file_line = _rstrip(file_lines[start + offset])
        wanted = _rstrip(search_line)
        if not wanted or not file_line:
            if wanted or file_line:
                return None
            continue
        if shift is None:
            shift = _line_shift(file_line, wanted)
            if shift is None:
                return None
        else:
            longer, shorter = (file_line, wanted) if shift.added else (wanted, file_line)
            if longer != shift.prefix + shorter:
                return None
    return shift or IndentShift()


def _match_at(file_lines: tuple[str, ...], start: int, search: list[str]) -> Match | None:
    """The least-tolerant match of ``search`` at line ``start``, or None."""
    stop = start + len(search)
    window = file_lines[start:stop]
    if list(window) == search:
        return Match(start, stop, MatchLevel.EXACT, IndentShift())
    if [_rstrip(line) for line in window] == [_rstrip(line) for line in search]:
        return Match(start, stop, MatchLevel.TRAILING_WHITESPACE, IndentShift())
    shift = _shift_at(file_lines, start, search)
    if shift is None:
        return None
    return Match(start, stop, MatchLevel.INDENTATION, shift)


def find_matches(file_lines: tuple[str, ...], search: list[str]) -> list[Match]:
    """Every place ``search`` matches at any level, in file order."""
    if not search or len(search) > len(file_lines):
        return []
    anchor = next((i for i, line in enumerate(search) if _strip(line)), 0)
    wanted = _strip(search[anchor])
    last_start = len(file_lines) - len(search)
    matches = []
    for index, line in enumerate(file_lines):
        start = index - anchor
        if 0 <= start <= last_start and _strip(line) == wanted:
            match = _match_at(file_lines, start, search)
            if match is not None:
                matches.append(match)
    return matches


def _line_range(start: int, stop: int) -> str:
    """1-based, inclusive line range text for lines ``start:stop``."""
    return f"line {start + 1}" if stop - start <= 1 else f"lines {start + 1}-{stop}"


def _show_lines(file_lines: tuple[str, ...], start: int, stop: int) -> str:
    shown = [f"{number + 1:>6} | {file_lines[number]}" for number in range(start, min(stop, start + HINT_MAX_LINES))]
    if stop - start > HINT_MAX_LINES:
        shown.append(f"       ... ({stop - start - HINT_MAX_LINES} more lines)")
    return "\n".join(shown)


@dataclass(frozen=True)
class Region:
    """The part of a file a failed SEARCH most resembles."""

    alignment: int
    """Where SEARCH line 1 would sit (may be before the file's start)."""
    start: int
    stop: int
    votes: int
    """How many SEARCH lines occur there, whitespace-stripped."""


def nearest_region(file_lines: tuple[str, ...], search: list[str]) -> Region | None:
    """The alignment where most SEARCH lines appear (whitespace-stripped).

    Returns None when no non-blank SEARCH line occurs in the file.  Ties go
    to a region that fits inside the file, then to the earliest, so the
    answer is deterministic.
    """
    positions: dict[str, list[int]] = defaultdict(list)
    for index, line in enumerate(file_lines):
        stripped = _strip(line)
        if stripped:
            positions[stripped].append(index)
    votes: Counter[int] = Counter()
    for offset, search_line in enumerate(search):
        where = positions.get(_strip(search_line), [])
        if len(where) > HINT_MAX_OCCURRENCES:
            continue
        for index in where:
            votes[index - offset] += 1
    if not votes:
        return None
    last_start = len(file_lines) - len(search)
    alignment, count = max(votes.items(), key=lambda item: (item[1], 0 <= item[0] <= last_start, -item[0]))
    start = max(alignment, 0)
    stop = max(min(alignment + len(search), len(file_lines)), start + 1)
    return Region(alignment, start, stop, count)


def _first_difference(file_lines: tuple[str, ...], alignment: int, search: list[str]) -> str:
    for offset, search_line in enumerate(search):
        index = alignment + offset
        if index < 0:
            return f"SEARCH line {offset + 1} ({search_line!r}) would come before the start of the file."
        if index >= len(file_lines):
            return f"The file ends before SEARCH line {offset + 1} ({search_line!r})."
        if _rstrip(file_lines[index]) != _rstrip(search_line):
            return f"First difference at line {index + 1}: file has {file_lines[index]!r}, SEARCH has {search_line!r}."
    return ""


def no_match_message(file_lines: tuple[str, ...], search: list[str], path: str) -> str:
    """Explain a failed match, showing the nearest region of the file."""
    head = f"SEARCH text not found in {path} (tried exact, trailing whitespace, indentation)."
    region = nearest_region(file_lines, search)
    if region is None:
        return f"{head}\nNo line of the SEARCH text occurs in {path}; read the file again before editing it."
    counted = sum(1 for line in search if _strip(line))
    parts = [
        head,
        f"Nearest region: {_line_range(region.start, region.stop)} "
        f"({region.votes} of {counted} SEARCH lines found there):",
        _show_lines(file_lines, region.start, region.stop),
    ]
    difference = _first_difference(file_lines, region.alignment, search)
    if difference:
        parts.append(difference)
    return "\n".join(parts)


def ambiguous_message(matches: list[Match], path: str) -> str:
    """Explain a refused ambiguous match, naming every place."""
    places = ", ".join(f"{_line_range(m.start, m.stop)} ({m.level.value})" for m in matches[:AMBIGUOUS_MAX_LISTED])
    if len(matches) > AMBIGUOUS_MAX_LISTED:
        places += f", and {len(matches) - AMBIGUOUS_MAX_LISTED} more"
    return (
        f"SEARCH text matches {len(matches)} places in {path}: {places}. "
        "Refusing to guess; include more surrounding lines so it matches exactly one place."
    )


def find_unique_match(text_file: TextFile, search: str, *, path: str) -> Match:
    """The single place ``search`` matches, or EditError (not found / ambiguous).

    One exact match is taken even where looser levels match elsewhere too
    (the SEARCH is the file's text, verbatim, in exactly one place);
    otherwise several matches are ambiguous.
    """
    file_lines = text_file.texts
    search_lines = text_to_lines(search)
    matches = find_matches(file_lines, search_lines)
    exact = [m for m in matches if m.level is MatchLevel.EXACT]
    if len(exact) == 1:
        return exact[0]
    if len(matches) > 1:
        raise EditError(ambiguous_message(matches, path), code=ErrorCode.AMBIGUOUS, path=path)
    if not matches:
        raise EditError(no_match_message(file_lines, search_lines, path), code=ErrorCode.NO_MATCH, path=path)
    return matches[0]
