"""Atomic file replacement and stale-file checks: a file is either its old or its new bytes.

``write_atomic`` writes a temp file in the same folder, fsyncs it, gives it the
old file's mode, ``os.replace``s it over the target and fsyncs the folder
(RELIABILITY #3).  ``FileSnapshot`` records what dgcode read (size, mtime,
SHA-256) so a file changed since then is not overwritten (RELIABILITY #13).
A rename ignores the target's own permissions, so ``check_writable`` refuses
a file the user cannot write, or one with no write bit for anyone (which
counts even for root, as editors and ``git apply`` treat it), before any
temp file is made (RELIABILITY #24).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from dgcode.edits.errors import EditError, ErrorCode
from dgcode.fsio import fsync_folder  # noqa: F401  (the edit pipeline's users import it from here too)

TEMP_PREFIX = ".dgcode-"
TEMP_SUFFIX = ".tmp"


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_writable(path: str | os.PathLike[str], info: os.stat_result, *, name: str | None = None) -> None:
    """Raise a read-only EditError if the existing file ``path`` (whose stat is ``info``) may not be replaced."""
    if stat.S_IMODE(info.st_mode) & 0o222 and os.access(path, os.W_OK):
        return
    shown = name or str(path)
    raise EditError(
        f"{shown} is read-only (mode {stat.S_IMODE(info.st_mode):o}); dgcode does not replace files you cannot "
        "write. Make it writable first if the edit is wanted.",
        code=ErrorCode.READ_ONLY,
        path=shown,
    )


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


def write_atomic(path: str | os.PathLike[str], data: bytes, *, mode: int | None = None,
                 refuse_read_only: bool = False) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new bytes, never a mix.

    An existing file keeps its permission bits (and owner, where allowed); a
    new file gets ``mode``, or ``0o666`` less the umask.  The folder must
    exist.  With ``refuse_read_only`` (edits of the user's files), an existing
    read-only file raises EditError before anything is written; dgcode's own
    state and the hook's exact restores of the user's bytes do not ask for it.
    On failure the temp file is removed and EditError is raised.
    """
    target = Path(path)
    folder = target.parent
    try:
        existing = os.stat(target, follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    except OSError as error:
        raise EditError(
            f"cannot write {target}: {error.strerror}", code=ErrorCode.IO_FAILED, path=str(target)
        ) from None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise EditError(f"cannot write {target}: it is not a regular file", code=ErrorCode.IO_FAILED, path=str(target))
    if existing is not None and refuse_read_only:
        check_writable(target, existing)
    if existing is not None:
        file_mode = stat.S_IMODE(existing.st_mode)
    else:
        file_mode = mode if mode is not None else 0o666 & ~current_umask()
    temp_name = None
    try:
        descriptor, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX + target.name + ".", suffix=TEMP_SUFFIX, dir=folder)
        try:
            _write_all(descriptor, data)
            os.fchmod(descriptor, file_mode)
            if existing is not None and (existing.st_uid, existing.st_gid) != (os.geteuid(), os.getegid()):
                with contextlib.suppress(OSError):
                    os.fchown(descriptor, existing.st_uid, existing.st_gid)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temp_name, target)
        temp_name = None
    except OSError as error:
        raise EditError(
            f"could not write {target}: {error.strerror or error}; the file was left as it was",
            code=ErrorCode.IO_FAILED,
            path=str(target),
        ) from error
    finally:
        if temp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
    fsync_folder(folder)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FileSnapshot:
    """What a file was when dgcode read it: size, modification time, SHA-256."""

    size: int
    mtime_ns: int
    sha256: str

    @classmethod
    def of(cls, data: bytes, info: os.stat_result) -> FileSnapshot:
        """The snapshot of ``data`` just read from a file whose stat is ``info``."""
        return cls(len(data), info.st_mtime_ns, sha256_hex(data))

    @classmethod
    def capture(cls, path: str | os.PathLike[str]) -> FileSnapshot:
        """Read ``path`` now and record it; raises EditError if it cannot be read."""
        _data, snapshot = read_with_snapshot(path)
        return snapshot

    def differences(self, other: FileSnapshot) -> list[str]:
        """What differs between two snapshots, in words (empty when none)."""
        found = []
        if other.size != self.size:
            found.append(f"size {self.size} -> {other.size} bytes")
        if other.sha256 != self.sha256:
            found.append("content")
        if other.mtime_ns != self.mtime_ns:
            found.append("modification time")
        return found

    def check_unchanged(self, path: str | os.PathLike[str]) -> None:
        """Raise a stale-file EditError if the content of ``path`` is not what was read.

        Size and hash decide; a new modification time with the same bytes
        (a ``touch``) is not a change, since overwriting loses nothing.
        """
        try:
            current = FileSnapshot.capture(path)
        except EditError as error:
            raise EditError(
                f"{path} changed since dgcode read it ({error}); not overwriting it",
                code=ErrorCode.STALE,
                path=str(path),
            ) from None
        if current.size != self.size or current.sha256 != self.sha256:
            changed = ", ".join(self.differences(current))
            raise EditError(
                f"{path} changed since dgcode read it ({changed}); not overwriting it. "
                "Run the request again so the edit is made against the current file.",
                code=ErrorCode.STALE,
                path=str(path),
            )


def check_still_absent(path: str | os.PathLike[str]) -> None:
    """Raise a stale-file EditError if a file dgcode meant to create now exists."""
    if os.path.lexists(path):
        raise EditError(
            f"{path} appeared since dgcode planned to create it; not overwriting it",
            code=ErrorCode.STALE,
            path=str(path),
        )


def read_with_snapshot(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> tuple[bytes, FileSnapshot]:
    """Read a regular file (not following a final symlink) and snapshot those same bytes.

    With ``max_bytes``, a larger file raises EditError before it is read, so
    memory stays bounded.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise EditError(f"cannot read {path}: {error.strerror}", code=ErrorCode.IO_FAILED, path=str(path)) from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise EditError(f"cannot read {path}: not a regular file", code=ErrorCode.UNSAFE_PATH, path=str(path))
        if max_bytes is not None and info.st_size > max_bytes:
            raise EditError(
                f"{path} is {info.st_size:,} bytes, over the {max_bytes:,}-byte limit for edits; skipped",
                code=ErrorCode.TOO_LARGE,
                path=str(path),
            )
        limit = -1 if max_bytes is None else max_bytes + 1
        data = handle.read(limit)
    return data, FileSnapshot.of(data, info)
