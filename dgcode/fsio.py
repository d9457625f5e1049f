"""Durable file-system steps that every layer may use: flushing a folder's entries, writing a small file whole.

A rename is durable only once the folder holding it is fsynced.  The engine
(aliased model copies), model downloads and the edit pipeline all need that
one step; it lives here, below all of them, so none has to import another's
package for it.  ``write_text_atomic`` is the one way dgcode writes its own
small records (trust, sessions, the warm-server and relabel records): a temp
file beside the target (mode 0600), fsynced, renamed over it, the folder
fsynced; a failure leaves the old file and no temp file.  (Edits to the
user's files have their own path, edits/atomic.py, which keeps modes.)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


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


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Replace ``path`` with ``text`` (UTF-8) whole, or leave it as it was; its folder is created if missing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_folder(path.parent)
    return path
