"""Whole-file replacement that keeps the bytes of every line the model did not change.

A whole-file edit gives the complete new content as ``"\\n"``-terminated lines.
Lines a diff finds unchanged keep their old bytes and endings; new lines take
the file's dominant ending; the BOM and the absence of a final newline are
kept (RELIABILITY #10).
"""

from __future__ import annotations

from dgcode.edits.matching import text_to_lines
from dgcode.edits.textfile import TextFile, carry_over_unchanged


def replace_whole_file(text_file: TextFile | None, content: str) -> TextFile:
    """The file with all of its content replaced by ``content`` (None: a new file)."""
    if text_file is None:
        return TextFile.from_text(content)
    new_lines = carry_over_unchanged(text_file.lines, text_file.texts, text_to_lines(content))
    return text_file.splice(0, len(text_file.lines), new_lines)
