"""Edit-block parser: a model response in, complete edits and a list of problems out.

Two formats, after aider's (see /work/shared/ANCHORS.md); the markers, fences and name lines
are read by dgcode/edits/markup.py:

SEARCH/REPLACE blocks (``mode="search_replace"``)::

    path/to/file.py
    ```python
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE
    ```

The fence is optional, and may be aider's ``<source>`` ... ``</source>``.  The
file name is the nearest non-blank line above the block (or above its opening
fence), stripped of ``#``, ``*``, backticks and a trailing colon; a fence info
string that looks like a path (```` ```a/b.py ````) also names it, and so does a
one-line fenced block of its own just above the block's fence (DeepSeek-Coder
writes the name that way).  A block with no name line above it belongs to the previous
block's file, unless the prose since the previous block names another one:
when exactly one plausible file name (a path-like word whose last part has a
known extension such as ``.py``/``.txt``, or is a name like ``Makefile``)
appears there and it differs from the inherited file, the block is for that
file; when several different names appear, which file is meant is unclear
and the block is refused with a problem.  A mention of the inherited file
alone changes nothing.  An empty SEARCH creates a new file.

Whole-file blocks (``mode="whole_file"``): a file name line, then a fenced code
block holding the complete new content.

The parser is total (RELIABILITY #8): any text, including a valid response cut
at any byte, gives a ``ParseResult``; it never raises, and every edit in it is
a complete block.  Anything incomplete or malformed becomes a problem string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Union

from dgcode.edits.markup import (
    closes_fence,
    fence_of,
    is_divider_marker,
    is_marker,
    is_replace_marker,
    is_search_marker,
    name_above_block,
    name_above_fence,
    name_in_own_fence,
    names_in_prose,
    same_file,
)

ParseMode = Literal["search_replace", "whole_file"]


@dataclass(frozen=True)
class SearchReplaceEdit:
    """Replace the SEARCH lines of ``path`` with the REPLACE lines.

    ``search`` and ``replace`` are ``"\\n"``-terminated lines ("" when empty);
    ``index`` is the block's 1-based position in the response.
    """

    path: str
    search: str
    replace: str
    index: int

    @property
    def creates_file(self) -> bool:
        """An empty SEARCH: the edit makes a new file."""
        return self.search == ""


@dataclass(frozen=True)
class WholeFileEdit:
    """Replace all of ``path`` with ``content`` (``"\\n"``-terminated lines)."""

    path: str
    content: str
    index: int


Edit = Union[SearchReplaceEdit, WholeFileEdit]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class ParseResult:
    """Complete edits in response order, and what was wrong with the rest."""

    edits: tuple[Edit, ...]
    problems: tuple[str, ...]


def parse_response(text: str | bytes, mode: ParseMode = "search_replace") -> ParseResult:
    """Parse a model response into edits; never raises for any ``text``.

    Raises ValueError only for an unknown ``mode`` (a programming error).
    """
    if mode not in ("search_replace", "whole_file"):
        raise ValueError(f"unknown parse mode {mode!r}; use 'search_replace' or 'whole_file'")
    problems: list[str] = []
    if isinstance(text, (bytes, bytearray)):
        text, decode_problem = decode_response(bytes(text))
        if decode_problem:
            problems.append(decode_problem)
    if not isinstance(text, str):
        return ParseResult((), (f"response is {type(text).__name__}, not text; nothing parsed",))
    lines = response_lines(text)
    parse = parse_search_replace if mode == "search_replace" else parse_whole_files
    edits, found = parse(lines)
    return ParseResult(tuple(edits), tuple(problems + found))


def decode_response(data: bytes) -> tuple[str, str]:
    """Decode UTF-8, keeping the valid prefix; returns (text, problem or "")."""
    try:
        return data.decode("utf-8"), ""
    except UnicodeDecodeError as error:
        text = data[: error.start].decode("utf-8")
        if error.end == len(data) and error.reason == "unexpected end of data":
            return text, ""  # cut inside a multi-byte character: just a truncation
        return text, f"response is not valid UTF-8 at byte {error.start}; ignored everything after it"


def response_lines(text: str) -> list[str]:
    """Split on ``"\\n"`` only, dropping one ``"\\r"`` before it."""
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _join(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def _block_label(number: int, path: str | None) -> str:
    return f"block {number} for {path}" if path else f"block {number}"


def parse_search_replace(lines: list[str]) -> tuple[list[Edit], list[str]]:
    """All complete SEARCH/REPLACE blocks in ``lines``, plus problems."""
    edits: list[Edit] = []
    problems: list[str] = []
    current_path: str | None = None
    open_fence: int | None = None  # index of the fence line we are inside, if any
    open_fence_text = ""
    number = 0
    index = 0
    while index < len(lines):
        line = lines[index]
        if not is_search_marker(line):
            if is_replace_marker(line):
                problems.append(f"line {index + 1}: >>>>>>> REPLACE without a <<<<<<< SEARCH before it; ignored")
            elif open_fence is not None and closes_fence(line, open_fence_text):
                open_fence = None
            elif open_fence is None and (opened := fence_of(line)):
                open_fence, open_fence_text = index, opened[0]
            index += 1
            continue
        number += 1
        named = name_above_block(lines, index, open_fence)
        unclear = ""
        if named is None and current_path is not None:
            mentioned = names_in_prose(lines, index)
            if len(mentioned) == 1 and not same_file(mentioned[0], current_path):
                named = mentioned[0]
            elif len(mentioned) > 1:
                unclear = ", ".join(mentioned)
        current_path = named or current_path
        label = _block_label(number, None if unclear else current_path)
        search_end = _next_marker(lines, index + 1)
        if search_end is None:
            problems.append(f"{label} is incomplete: missing =======")
            break
        if not is_divider_marker(lines[search_end]):
            problems.append(
                f"{label} is malformed: line {search_end + 1} is {lines[search_end].strip()!r} "
                "where ======= was expected; block ignored"
            )
            index = search_end if is_search_marker(lines[search_end]) else search_end + 1
            continue
        replace_end = _next_marker(lines, search_end + 1)
        if replace_end is None:
            problems.append(f"{label} is incomplete: missing >>>>>>> REPLACE")
            break
        if not is_replace_marker(lines[replace_end]):
            problems.append(
                f"{label} is malformed: line {replace_end + 1} is {lines[replace_end].strip()!r} "
                "where >>>>>>> REPLACE was expected; block ignored"
            )
            index = replace_end if is_search_marker(lines[replace_end]) else replace_end + 1
            continue
        if unclear:
            problems.append(f"{label} has no file name line before it, and the text before it names several "
                            f"files ({unclear}); which one it is for is unclear, so it was ignored")
        elif current_path is None:
            problems.append(f"{label} has no file name line before it; ignored")
        else:
            search = _join(lines[index + 1 : search_end])
            replace = _join(lines[search_end + 1 : replace_end])
            edits.append(SearchReplaceEdit(current_path, search, replace, number))
        index = replace_end + 1
    return edits, problems


def _next_marker(lines: list[str], start: int) -> int | None:
    for index in range(start, len(lines)):
        if is_marker(lines[index]):
            return index
    return None


def parse_whole_files(lines: list[str]) -> tuple[list[Edit], list[str]]:
    """All complete named fenced blocks in ``lines`` as whole-file edits, plus problems."""
    edits: list[Edit] = []
    problems: list[str] = []
    number = 0
    index = 0
    while index < len(lines):
        fence = fence_of(lines[index])
        if fence is None:
            index += 1
            continue
        number += 1
        path = name_above_fence(lines, index)
        label = f"file block {number}" + (f" for {path}" if path else f" at line {index + 1}")
        close = next((i for i in range(index + 1, len(lines)) if closes_fence(lines[i], fence[0])), None)
        if close is None:
            problems.append(f"{label} is incomplete: missing closing {fence[0]}")
            break
        body = lines[index + 1 : close]
        following = close + 1
        while following < len(lines) and not lines[following].strip():
            following += 1
        if path is None and following < len(lines) and fence_of(lines[following]) \
                and name_in_own_fence(lines, close) is not None:
            number -= 1  # the next block's name, in a fence of its own
            index = close + 1
            continue
        if path is None:
            problems.append(f"{label} has no file name line before it; ignored")
        elif any(is_search_marker(line) or is_replace_marker(line) for line in body):
            problems.append(
                f"{label} holds SEARCH/REPLACE markers, but whole-file mode wants the complete file; ignored"
            )
        else:
            edits.append(WholeFileEdit(path, _join(body), number))
        index = close + 1
    return edits, problems
