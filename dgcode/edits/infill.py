"""Infill edits: a line range of a file is masked and the model writes it, the code on both sides fixed.

Nothing has to be reproduced, so nothing can fail to match: the edit names the
lines it replaces and the text they held when the model was asked (a file whose
range changed since is refused as stale). `request_infill` splits a file into
the text before, the span and the text after; the front end asks the engine to
fill the span (`Engine.generate(before, settings, suffix=after)`), and
`infill_edit` turns the answer into an edit that goes through the normal plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from dgcode.edits.errors import EditError, ErrorCode
from dgcode.edits.matching import text_to_lines
from dgcode.edits.textfile import TextFile, carry_over_unchanged


@dataclass(frozen=True)
class InfillEdit:
    """Replace lines start..end (1-based, inclusive) of ``path``, which held ``expected``, with ``replace``.

    ``expected`` and ``replace`` are ``"\\n"``-terminated lines, like SEARCH/REPLACE text.
    """

    path: str
    start: int
    end: int
    expected: str
    replace: str
    index: int = 1


@dataclass(frozen=True)
class InfillRequest:
    """A file cut around the span to rewrite."""

    path: str
    start: int
    end: int
    before: str
    span: str
    after: str


def _as_text(lines) -> str:
    return "".join(f"{line}\n" for line in lines)


def request_infill(path: str, text_file: TextFile, start: int, end: int) -> InfillRequest:
    """Cut `text_file` into before / lines start..end / after (1-based, inclusive)."""
    total = len(text_file.lines)
    if not 1 <= start <= end <= total:
        raise EditError(f"{path}: lines {start}-{end} are outside the file (1-{total})", code=ErrorCode.NO_MATCH,
                        path=path)
    texts = text_file.texts
    return InfillRequest(path, start, end, _as_text(texts[:start - 1]), _as_text(texts[start - 1:end]),
                         _as_text(texts[end:]))


def infill_edit(request: InfillRequest, answer: str) -> InfillEdit:
    """The edit that puts the model's answer in place of the span (a final newline is added if missing)."""
    if answer and not answer.endswith("\n"):
        answer += "\n"
    return InfillEdit(request.path, request.start, request.end, request.span, answer)


def apply_infill(text_file: TextFile | None, edit: InfillEdit) -> TextFile:
    """The file with the edit's lines replaced; unchanged lines keep their bytes."""
    if text_file is None:
        raise EditError(f"{edit.path} does not exist", code=ErrorCode.MISSING_FILE, path=edit.path)
    total = len(text_file.lines)
    if not 1 <= edit.start <= edit.end <= total:
        raise EditError(f"{edit.path}: lines {edit.start}-{edit.end} are outside the file (1-{total})",
                        code=ErrorCode.STALE, path=edit.path)
    old = text_file.lines[edit.start - 1:edit.end]
    held = [line.text for line in old]
    if held != text_to_lines(edit.expected):
        raise EditError(f"{edit.path}: lines {edit.start}-{edit.end} changed since the model saw them; refused",
                        code=ErrorCode.STALE, path=edit.path)
    new_lines = carry_over_unchanged(old, held, text_to_lines(edit.replace))
    return text_file.splice(edit.start - 1, edit.end, new_lines)
