"""What one working-tree path holds (a file's bytes and permission bits, a symlink's target, or nothing), read and written atomically.

The commit hook sets a person's unstaged files aside and puts them back; it
compares and restores whole path states with these helpers so that bytes,
executable bits and symlinks come back exactly (RELIABILITY #10, #15).  Each
write goes to a temp entry in the same folder and is ``os.replace``d over the
path, then the folder is fsynced (RELIABILITY #3).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dgcode.edits.atomic import TEMP_PREFIX, TEMP_SUFFIX, current_umask, fsync_folder

Kind = Literal["file", "symlink", "absent"]


class FileStateError(Exception):
    """A path holds something the hook will not handle (a folder, a device), or could not be read or written."""


@dataclass(frozen=True)
class FileState:
    """The content of one path: ``data`` is a file's bytes or a symlink's target; ``perms`` a file's mode bits."""

    kind: Kind
    data: bytes = b""
    perms: int = 0

    @property
    def executable(self) -> bool:
        return bool(self.perms & 0o100)

    def digest(self) -> str:
        """A SHA-256 over kind, executable bit and data: equal digests mean git sees the same entry."""
        head = f"{self.kind}:{'x' if self.executable else '-'}:".encode("ascii")
        return hashlib.sha256(head + self.data).hexdigest()

    def same_as(self, other: FileState) -> bool:
        """Same kind, bytes and permission bits."""
        return (self.kind, self.data, self.perms if self.kind == "file" else 0) == \
            (other.kind, other.data, other.perms if other.kind == "file" else 0)

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "perms": oct(self.perms), "sha256": self.digest(), "size": len(self.data)}


ABSENT = FileState("absent")


def read_state(path: str | os.PathLike[str]) -> FileState:
    """What ``path`` holds now (not following a final symlink)."""
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return ABSENT
    except OSError as error:
        raise FileStateError(f"cannot read {os.fsdecode(path)}: {error.strerror or error}") from None
    try:
        if stat.S_ISLNK(info.st_mode):
            return FileState("symlink", os.readlink(os.fsencode(path)))
        if stat.S_ISREG(info.st_mode):
            with open(path, "rb") as handle:
                return FileState("file", handle.read(), stat.S_IMODE(info.st_mode))
    except OSError as error:
        raise FileStateError(f"cannot read {os.fsdecode(path)}: {error.strerror or error}") from None
    raise FileStateError(f"{os.fsdecode(path)} is neither a file nor a symlink")


def default_perms(executable: bool, existing: FileState | None = None) -> int:
    """Mode bits git would give a checked-out file: the existing file's, else 0666 less the umask; +x as asked."""
    base = existing.perms if existing is not None and existing.kind == "file" else 0o666 & ~current_umask()
    return (base | ((base & 0o444) >> 2)) if executable else (base & ~0o111)


def put_state(path: str | os.PathLike[str], state: FileState) -> list[Path]:
    """Make ``path`` hold ``state``, atomically; returns the folders it had to create (outermost first)."""
    target = Path(path)
    created: list[Path] = []
    try:
        if state.kind == "absent":
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                if not os.path.isdir(target) or os.path.islink(target):
                    os.unlink(target)
                    fsync_folder(target.parent)
            return created
        missing = [folder for folder in (target.parent, *target.parent.parents) if not folder.exists()]
        for folder in reversed(missing):
            os.mkdir(folder)
            created.append(folder)
        if os.path.isdir(target) and not os.path.islink(target):
            raise FileStateError(f"cannot write {os.fsdecode(target)}: a folder is in the way")
        if state.kind == "symlink":
            _replace_with_symlink(target, state.data)
        else:
            _replace_with_file(target, state.data, state.perms)
        fsync_folder(target.parent)
    except OSError as error:
        raise FileStateError(f"cannot write {os.fsdecode(target)}: {error.strerror or error}") from None
    return created


def _replace_with_file(target: Path, data: bytes, perms: int) -> None:
    descriptor, temp = tempfile.mkstemp(prefix=TEMP_PREFIX + "hook.", suffix=TEMP_SUFFIX, dir=target.parent)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
            os.fchmod(descriptor, perms)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temp, target)
        temp = None
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _replace_with_symlink(target: Path, link: bytes) -> None:
    for attempt in range(100):
        temp = target.parent / f"{TEMP_PREFIX}hook.{os.getpid()}.{attempt}{TEMP_SUFFIX}"
        try:
            os.symlink(link, os.fsencode(temp))
            break
        except FileExistsError:
            continue
    else:
        raise FileStateError(f"cannot write {os.fsdecode(target)}: no free temporary name")
    try:
        os.replace(temp, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove folders ``put_state`` created, innermost first, where they are empty again."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            os.rmdir(folder)
