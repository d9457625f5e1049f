"""Containment checks for the paths in dgcode's own records (journals, the undo record).

A journal is dgcode's state, but it sits on disk where anything can change
it, so its paths are checked exactly like edit paths before it is acted on
(RELIABILITY #22): each file and folder must pass ``resolve_edit_path``
(inside the tree, no symlinked component, not ``.git``), none may be inside
dgcode's own state folder, and no file may be listed twice.  The first
failure is returned as a message; the caller refuses the whole record.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dgcode.edits.errors import EditError
from dgcode.edits.paths import resolve_edit_path


def first_unsafe_path(base: Path, state_folder: Path, files: Iterable[str], folders: Iterable[str]) -> str | None:
    """Why the first unsafe entry of a record is unsafe, or None when every path may be written."""
    seen: set[str] = set()
    listed = [(raw, False) for raw in files] + [(raw, True) for raw in folders]
    for raw, is_folder in listed:
        try:
            resolved = resolve_edit_path(base, raw, folder=is_folder)
        except EditError as error:
            return f"it lists a path dgcode would never write ({error})"
        if state_folder in (resolved.absolute, *resolved.absolute.parents):
            return f"it lists {raw!r}, inside dgcode's own state folder"
        if not is_folder and resolved.relative in seen:
            return f"it lists the file {raw!r} twice"
        seen.add(resolved.relative)
    return None
