"""Coloured unified diffs (rich), as the command line prints them and the TUI's review screen shows them."""

from __future__ import annotations

from rich.text import Text

from dgcode.edits.diff import diff_lines

DIFF_LINES_SHOWN = 60
"""Diff lines shown per file before the rest is summarized."""


def diff_text(path: str, old: bytes | None, new: bytes | None, limit: int = DIFF_LINES_SHOWN) -> Text:
    """A coloured unified diff of one file, cut after ``limit`` lines."""
    lines = diff_lines(path, old, new)
    text = Text()
    for line in lines[:limit]:
        shown = line.rstrip("\r\n") + "\n"
        style = ("bold" if line.startswith(("---", "+++")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else "")
        text.append(shown, style=style)
    if len(lines) > limit:
        text.append(f"... {len(lines) - limit} more diff lines\n", style="dim")
    return text
