"""Safe edit paths: turn a model-given path into a file inside the repository, or refuse.

Refused (RELIABILITY #9, after git's ``t4139-apply-escape`` and ``verify_path``):
empty names, NUL and control characters, backslashes, absolute paths, ``~``,
any ``..`` component, any ``.git`` component in any case (including NTFS/HFS
look-alikes such as ``.git.``, ``.git `` and ``git~1``), text that is not
valid Unicode, a name longer than ``NAME_MAX`` or a path longer than
``PATH_MAX`` bytes (refused before the disk is asked, so the OS never answers
"File name too long"), and any existing component that is a symlink (writing
through or onto a link), or an existing file used as a folder.  The returned
path is checked once more against the real repository root.  Call again just
before writing to narrow races.  ``resolve_edit_path(..., folder=True)``
checks a folder path the same way (dgcode's journal lists the folders it
created).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from dgcode.edits.errors import EditError, ErrorCode

HFS_IGNORABLE = dict.fromkeys([0x200C, 0x200D, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF])
"""Code points HFS+ ignores in names, so ``.g\\u200cit`` is ``.git`` there."""
NAME_MAX = 255
"""Longest file or folder name, in bytes, that common file systems (ext4, XFS, APFS, NTFS) allow."""
PATH_MAX = 4096
"""Longest path, in bytes and counting the terminating NUL, that Linux system calls accept."""
SHOWN_PATH_CHARS = 120
"""Longer paths are shortened in refusal messages."""


@dataclass(frozen=True)
class RepoPath:
    """A checked path: ``relative`` (normalized, ``/``-separated) and ``absolute``."""

    relative: str
    absolute: Path


def _refuse(raw: str, why: str) -> EditError:
    shown = raw if len(raw) <= SHOWN_PATH_CHARS else f"{raw[:80]}...{raw[-30:]}"
    return EditError(f"refusing path {shown!r}: {why}", code=ErrorCode.UNSAFE_PATH, path=raw)


def _check_lengths(raw: str, components: list[str]) -> None:
    """Refuse text that is not encodable, a name over NAME_MAX, or a path over PATH_MAX bytes."""
    try:
        sizes = [len(part.encode("utf-8")) for part in components]
    except UnicodeEncodeError:
        raise _refuse(raw, "it is not valid Unicode text (it holds a lone surrogate)") from None
    for part, size in zip(components, sizes):
        if size > NAME_MAX:
            raise _refuse(raw, f"the name {part[:40]!r}... is {size:,} bytes, longer than the "
                               f"{NAME_MAX}-byte limit for one file or folder name")
    total = sum(sizes) + len(sizes) - 1
    if total >= PATH_MAX:
        raise _refuse(raw, f"it is {total:,} bytes long, longer than the {PATH_MAX:,}-byte limit for paths")


def is_git_dir_name(component: str) -> bool:
    """Whether a path component names a ``.git`` folder on some file system."""
    folded = component.translate(HFS_IGNORABLE).rstrip(" .").lower()
    return folded == ".git" or folded == "git~1"


def normalize_edit_path(raw: str) -> str:
    """Check the text of ``raw`` and return it as ``a/b/c``; raise EditError if unsafe.

    Looks only at the string, not at the disk.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise _refuse(str(raw), "the file name is empty")
    if "\x00" in raw:
        raise _refuse(raw, "it contains a NUL byte")
    if any(ord(character) < 0x20 or ord(character) == 0x7F for character in raw):
        raise _refuse(raw, "it contains control characters")
    if "\\" in raw:
        raise _refuse(raw, "it contains a backslash; use '/' between folders")
    if raw.startswith("/") or (len(raw) >= 2 and raw[1] == ":" and raw[0].isalpha()):
        raise _refuse(raw, "it is an absolute path; edits must name files inside the repository")
    if raw.startswith("~"):
        raise _refuse(raw, "it starts with '~'; edits must name files inside the repository")
    components = [part for part in raw.split("/") if part not in ("", ".")]
    if not components:
        raise _refuse(raw, "it names the repository folder itself, not a file")
    for part in components:
        if part == "..":
            raise _refuse(raw, "it contains '..'; edits must stay inside the repository")
        if is_git_dir_name(part):
            raise _refuse(raw, "it is inside a .git folder, which dgcode never edits")
    _check_lengths(raw, components)
    if raw.endswith("/"):
        raise _refuse(raw, "it ends with '/', so it names a folder, not a file")
    return "/".join(components)


def resolve_edit_path(root: str | os.PathLike[str], raw: str, *, folder: bool = False) -> RepoPath:
    """Resolve ``raw`` inside the repository at ``root``, or raise EditError.

    Every component that exists must be a real folder (the last one a
    regular file, or with ``folder`` a folder); none may be a symlink.
    Missing components are fine: the edit creates them.
    """
    relative = normalize_edit_path(raw)
    real_root = Path(os.path.realpath(root))
    full_size = len(os.fsencode(real_root)) + 1 + len(relative.encode("utf-8"))
    if full_size >= PATH_MAX:
        raise _refuse(raw, f"inside this repository it is a {full_size:,}-byte path, longer than the "
                           f"{PATH_MAX:,}-byte limit for paths")
    current = real_root
    components = relative.split("/")
    for position, part in enumerate(components):
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            break
        except OSError as error:
            raise _refuse(raw, f"cannot inspect {part!r}: {error.strerror}") from None
        is_last = position == len(components) - 1
        shown = "/".join(components[: position + 1])
        if stat.S_ISLNK(info.st_mode):
            raise _refuse(raw, f"{shown!r} is a symbolic link; dgcode does not write through or onto links")
        if is_last and folder and not stat.S_ISDIR(info.st_mode):
            raise _refuse(raw, f"{shown!r} is not a folder")
        if is_last and not folder and not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise _refuse(raw, f"{shown!r} is {kind}")
        if not is_last and not stat.S_ISDIR(info.st_mode):
            raise _refuse(raw, f"{shown!r} is a file, not a folder")
    absolute = real_root.joinpath(*components)
    existing_parent = absolute.parent
    while not os.path.lexists(existing_parent) and existing_parent != real_root:
        existing_parent = existing_parent.parent
    real_parent = Path(os.path.realpath(existing_parent))
    if real_parent != real_root and real_root not in real_parent.parents:
        raise _refuse(raw, "it resolves outside the repository")
    return RepoPath(relative, absolute)
