"""dgcode's private state folder for one working tree, and the lock that lets one dgcode run at a time write there.

The folder is never in what gets committed: ``<git dir>/dgcode/`` in a git
working tree (per worktree), else ``.dgcode/`` in the folder edited, with a
``.gitignore`` of ``*``. It holds the apply journal and the undo record
(edits/journal.py), the lock (RELIABILITY #17) and other per-tree state
(``fix --candidates``' saved diffs).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dgcode.edits.atomic import write_atomic
from dgcode.vcs.snapshot import locate_repository

GIT_STATE_FOLDER = "dgcode"
"""Inside the git folder of the working tree (per worktree)."""
PLAIN_STATE_FOLDER = ".dgcode"
"""In the edited folder itself when it is not in a git repository."""


class JournalError(Exception):
    """A journal or undo record cannot be read, or the state folder is busy; ``str()`` is for the user."""


class LockHeld(JournalError):
    """Another dgcode run holds the repository's lock."""


@dataclass(frozen=True)
class StateLocation:
    """dgcode's private folder for one working tree, and the folder journal paths are relative to."""

    base: Path
    folder: Path
    in_git: bool

    @property
    def journal_folder(self) -> Path:
        return self.folder / "journal"

    @property
    def last_apply_path(self) -> Path:
        return self.folder / "last-apply.json"

    @property
    def lock_path(self) -> Path:
        return self.folder / "lock"

    def ensure(self) -> None:
        """Create the folders; outside git also a ``.gitignore`` so they are never committed."""
        self.journal_folder.mkdir(parents=True, exist_ok=True)
        if not self.in_git and not (self.folder / ".gitignore").exists():
            write_atomic(self.folder / ".gitignore", b"# dgcode's private state: journals, undo record, lock\n*\n")

    def pending_journals(self) -> list[Path]:
        """Journal files left by an apply or undo that did not finish, oldest first."""
        if not self.journal_folder.is_dir():
            return []
        return sorted(path for path in self.journal_folder.glob("*.json") if path.is_file())


def locate_state(root: str | os.PathLike[str]) -> StateLocation:
    """Where dgcode keeps its journal, undo record and lock for the tree at ``root``."""
    repo = locate_repository(root)
    if repo is not None:
        return StateLocation(repo.top, repo.git_dir / GIT_STATE_FOLDER, True)
    base = Path(os.path.realpath(root))
    return StateLocation(base, base / PLAIN_STATE_FOLDER, False)


_HELD: dict[str, tuple[int, int]] = {}  # lock path -> (owning thread id, depth) for locks this process holds
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def exclusive_lock(location: StateLocation) -> Iterator[None]:
    """Hold the working tree's lock (``fcntl.flock``) for the block, or raise LockHeld at once.

    Re-entrant for the thread that holds it (the hook holds the lock for its
    whole run, and the fix it runs takes it again to write); any other holder,
    another process or another thread, gets LockHeld.
    """
    location.ensure()
    key, me = os.path.realpath(location.lock_path), threading.get_ident()
    with _HELD_GUARD:
        owner, depth = _HELD.get(key, (None, 0))
        if owner == me:
            _HELD[key] = (me, depth + 1)
    if owner == me:
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD[key] = (me, depth)
        return
    if owner is not None:
        raise LockHeld(f"another dgcode task in this program is writing in {location.base}; wait for it to finish")
    with _flock(location):
        with _HELD_GUARD:
            _HELD[key] = (me, 1)
        try:
            yield
        finally:
            with _HELD_GUARD:
                del _HELD[key]


@contextlib.contextmanager
def _flock(location: StateLocation) -> Iterator[None]:
    descriptor = os.open(location.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(descriptor, 64, 0).decode("ascii", "replace").strip()
            by = f" by process {holder}" if holder.isdigit() else ""
            raise LockHeld(
                f"another dgcode run is writing in {location.base} (lock {location.lock_path} is held{by}); "
                "wait for it to finish, then try again"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(descriptor)  # closing releases the flock
