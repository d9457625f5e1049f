"""Whole-file replacement that keeps the bytes of every line the model did not change.

A whole-file edit gives the complete new content as ``"\\n"``-terminated lines.
Lines a diff finds unchanged keep their old bytes and endings; new lines take
the file's dominant ending; the BOM and the absence of a final newline are
kept (RELIABILITY #10).

An empty body is refused for a file that has text: a whole-file block with
nothing (or only whitespace) in its fence is far more often a cut or botched
response than a request to wipe the file, and replacing would silently
truncate it.  The rule is simple on purpose: no wording in the response
overrides it.  To empty a file, use a SEARCH/REPLACE edit that deletes its
lines.  A new file, or one that is already blank, may get an empty body.
"""

from __future__ import annotations

from dgcode.edits.errors import EditError, ErrorCode
from dgcode.edits.matching import text_to_lines
from dgcode.edits.textfile import TextFile, carry_over_unchanged


def replace_whole_file(text_file: TextFile | None, content: str, *, name: str = "the file") -> TextFile:
    """The file with all of its content replaced by ``content`` (None: a new file).

    Raises EditError when ``content`` is blank and the file has text.
    """
    if text_file is None:
        return TextFile.from_text(content)
    if not content.strip() and any(text.strip() for text in text_file.texts):
        raise EditError(
            f"the whole-file block for {name} is empty, which would erase all of its "
            f"{len(text_file.lines):,} lines (to empty a file, delete its lines with a SEARCH/REPLACE edit)",
            code=ErrorCode.EMPTY_CONTENT,
            path=name,
        )
    new_lines = carry_over_unchanged(text_file.lines, text_file.texts, text_to_lines(content))
    return text_file.splice(0, len(text_file.lines), new_lines)
