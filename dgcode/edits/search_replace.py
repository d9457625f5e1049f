"""One SEARCH/REPLACE applied to a file's text: matched (edits/matching.py), or read the way aider reads two habits.

``apply_search_replace`` creates a file for an empty SEARCH, else finds the one
place the SEARCH matches (matching.py's levels) and splices the REPLACE in.
A SEARCH that matches nothing as written gets one more, equally strict, try
(``forgiving_replacement``): a spurious blank first line dropped (aider issue
25), or ``...`` lines read as elided unchanged code, each piece matching
exactly one place. Whatever was forgiven is said in ``Replacement.note``.
Ambiguity is never forgiven.
"""

from __future__ import annotations

from dataclasses import dataclass

from dgcode.edits.errors import EditError, ErrorCode
from dgcode.edits.matching import Match, MatchLevel, find_unique_match, text_to_lines
from dgcode.edits.textfile import TextFile, carry_over_unchanged

ELISION = "..."
"""A SEARCH/REPLACE line that stands for unchanged code left out."""


def _bare(line: str) -> str:
    return line.strip(" \t")


@dataclass(frozen=True)
class Replacement:
    """The file after one SEARCH/REPLACE; ``match`` is None when the file was created."""

    text_file: TextFile
    match: Match | None
    note: str = ""
    """What was forgiven to apply it (a blank first SEARCH line dropped, ``...`` elision), or ""."""

    @property
    def level(self) -> MatchLevel | None:
        """The match level used, or None for a new file."""
        return self.match.level if self.match else None


def apply_search_replace(text_file: TextFile | None, search: str, replace: str, *, path: str,
                         new_in_this_answer: bool = False) -> Replacement:
    """Apply one SEARCH/REPLACE to ``text_file`` (None: the file does not exist).

    An empty SEARCH creates a file that is missing (or empty); on a file with
    content it is refused, unless ``new_in_this_answer`` (an earlier block of
    the same answer created the file): then the REPLACE is appended, as aider
    does when a model builds a new file in two blocks. Raises EditError when
    the edit cannot apply.
    """
    if not text_to_lines(search):
        if text_file is not None and text_file.lines and new_in_this_answer:
            end = len(text_file.lines)
            return Replacement(text_file.splice(end, end, text_to_lines(replace)), None,
                               "appended to the file an earlier block of this answer created")
        if text_file is not None and text_file.lines:
            raise EditError(
                f"{path} already exists and is not empty; an empty SEARCH only creates new files. "
                "Quote the lines to change in SEARCH instead.",
                code=ErrorCode.NOT_EMPTY,
                path=path,
            )
        bom = text_file.bom if text_file is not None else False
        return Replacement(TextFile.from_text(replace, bom=bom), None)
    if text_file is None:
        raise EditError(
            f"{path} does not exist; to create it, use an empty SEARCH section.",
            code=ErrorCode.MISSING_FILE,
            path=path,
        )
    try:
        return _replace_at_match(text_file, search, replace, path=path)
    except EditError as error:
        if error.code is not ErrorCode.NO_MATCH:
            raise
        forgiven = forgiving_replacement(text_file, search, replace, path=path)
        if forgiven is None:
            raise
        return forgiven


def _replace_at_match(text_file: TextFile, search: str, replace: str, *, path: str) -> Replacement:
    match = find_unique_match(text_file, search, path=path)
    new_lines = carry_over_unchanged(
        text_file.lines[match.start : match.stop], text_to_lines(search), text_to_lines(replace), match.shift.apply
    )
    return Replacement(text_file.splice(match.start, match.stop, new_lines), match)


def _join_lines(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def forgiving_replacement(text_file: TextFile, search: str, replace: str, *, path: str) -> Replacement | None:
    """A SEARCH that matched nothing as written, read the way aider reads two habits of small models.

    - A spurious blank first line in SEARCH (aider issue 25): dropped (and the
      REPLACE's blank first line with it), then matched as usual.
    - ``...`` lines eliding unchanged code: SEARCH and REPLACE must hold the
      same number of them; each SEARCH piece must match exactly one place,
      after the previous piece, and is replaced by its REPLACE piece.

    None when neither applies; an EditError when one applies but is still
    ambiguous or does not match.
    """
    search_lines, replace_lines = text_to_lines(search), text_to_lines(replace)
    if len(search_lines) >= 2 and not _bare(search_lines[0]) and any(_bare(line) for line in search_lines):
        kept_replace = replace_lines[1:] if replace_lines and not _bare(replace_lines[0]) else replace_lines
        try:
            replacement = _replace_at_match(text_file, _join_lines(search_lines[1:]), _join_lines(kept_replace),
                                            path=path)
        except EditError as error:
            if error.code is ErrorCode.NO_MATCH:
                return None  # the SEARCH's own no-match message says more
            raise
        return Replacement(replacement.text_file, replacement.match, "dropped a blank first line of SEARCH")
    if any(_bare(line) == ELISION for line in search_lines):
        return _elided_replacement(text_file, search_lines, replace_lines, path=path)
    return None



def _pieces(lines: list[str]) -> list[list[str]]:
    pieces: list[list[str]] = [[]]
    for line in lines:
        if _bare(line) == ELISION:
            pieces.append([])
        else:
            pieces[-1].append(line)
    return pieces


def _elided_replacement(text_file: TextFile, search_lines: list[str], replace_lines: list[str], *,
                        path: str) -> Replacement | None:
    search_pieces, replace_pieces = _pieces(search_lines), _pieces(replace_lines)
    if len(search_pieces) != len(replace_pieces):
        raise EditError(f"SEARCH elides code with {len(search_pieces) - 1} '...' line(s) but REPLACE has "
                        f"{len(replace_pieces) - 1}; they must correspond. Quote the lines in full instead.",
                        code=ErrorCode.NO_MATCH, path=path)
    current, floor, first = text_file, 0, None
    for number, (old, new) in enumerate(zip(search_pieces, replace_pieces), start=1):
        if not any(_bare(line) for line in old):
            if any(_bare(line) for line in new):
                raise EditError(f"piece {number} of an elided SEARCH is empty but its REPLACE is not: where it "
                                "goes is unclear. Quote the lines around it.", code=ErrorCode.NO_MATCH, path=path)
            continue
        try:
            match = find_unique_match(current, _join_lines(old), path=path)
        except EditError as error:
            raise EditError(f"piece {number} of an elided SEARCH ('...' lines): {error}", code=error.code,
                            path=path) from None
        if match.start < floor:
            raise EditError(f"piece {number} of an elided SEARCH matches above the piece before it; "
                            "refusing to guess", code=ErrorCode.AMBIGUOUS, path=path)
        new_lines = carry_over_unchanged(current.lines[match.start:match.stop], old, new, match.shift.apply)
        current = current.splice(match.start, match.stop, new_lines)
        floor = match.start + len(new_lines)
        first = first or match
    if first is None:
        return None  # nothing but '...' lines: not an elision
    return Replacement(current, first, f"matched {len(search_pieces)} pieces around '...' elisions")
