"""One file's change (its path, bytes before and after) and its unified diff, the one textual diff dgcode shows.

``FileChange`` is what an apply changes (``dgcode.edits.apply``), what ``dgcode
fix`` reports and confirms, and what the TUI's review screen shows.
``diff_lines`` is the unified diff every front end prints (git's headers,
``DIFF_CONTEXT`` lines of context); ``unified_diff`` is the same as one string.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

DIFF_CONTEXT = 3
"""Unchanged lines shown around each change (git's default)."""


def _lines(data: bytes | None) -> list[str]:
    return [] if data is None else data.decode("utf-8", "replace").splitlines(keepends=True)


def diff_lines(path: str, old: bytes | None, new: bytes | None) -> list[str]:
    """The unified diff of ``path`` from ``old`` to ``new`` (None: the file is absent), one diff line per item.

    Headers as git writes them: ``a/PATH`` and ``b/PATH``, ``/dev/null`` for a
    file created or deleted.  A line keeps its own ending, so the file's last
    line, when it has none, has none here either.
    """
    return list(difflib.unified_diff(_lines(old), _lines(new), "/dev/null" if old is None else f"a/{path}",
                                     "/dev/null" if new is None else f"b/{path}", n=DIFF_CONTEXT))


def unified_diff(path: str, old: bytes | None, new: bytes | None) -> str:
    """``diff_lines`` as one string ("" when nothing changed)."""
    return "".join(diff_lines(path, old, new))


@dataclass(frozen=True)
class FileChange:
    """One file an apply changes (or would change, in a dry run): its bytes before and after."""

    path: str
    old_bytes: bytes | None
    """None: the change creates the file."""
    new_bytes: bytes

    @property
    def created(self) -> bool:
        return self.old_bytes is None

    def diff(self) -> str:
        """The change as a unified diff."""
        return unified_diff(self.path, self.old_bytes, self.new_bytes)
