"""Coloured unified diffs (rich), as the command line prints them and the TUI's review screen shows them."""

from __future__ import annotations

import difflib

from rich.text import Text

DIFF_LINES_SHOWN = 60
"""Diff lines shown per file before the rest is summarized."""


def _decode(data: bytes | None) -> list[str]:
    if data is None:
        return []
    return data.decode("utf-8", "replace").splitlines(keepends=True)


def diff_text(path: str, old: bytes | None, new: bytes | None, limit: int = DIFF_LINES_SHOWN) -> Text:
    """A coloured unified diff of one file, cut after ``limit`` lines."""
    lines = list(difflib.unified_diff(
        _decode(old), _decode(new), "/dev/null" if old is None else f"a/{path}",
        "/dev/null" if new is None else f"b/{path}", n=2,
    ))
    text = Text()
    for line in lines[:limit]:
        shown = line.rstrip("\r\n") + "\n"
        style = ("bold" if line.startswith(("---", "+++")) else "green" if line.startswith("+")
                 else "red" if line.startswith("-") else "cyan" if line.startswith("@@") else "")
        text.append(shown, style=style)
    if len(lines) > limit:
        text.append(f"... {len(lines) - limit} more diff lines\n", style="dim")
    return text
