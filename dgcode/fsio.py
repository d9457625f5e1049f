"""Durable file-system steps that every layer may use: flushing a folder's entries to disk.

A rename is durable only once the folder holding it is fsynced.  The engine
(aliased model copies), model downloads and the edit pipeline all need that
one step; it lives here, below all of them, so none has to import another's
package for it.
"""

from __future__ import annotations

import contextlib
import os


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries to disk (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
