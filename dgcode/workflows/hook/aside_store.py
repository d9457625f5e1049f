"""Where the commit hook keeps a person's set-aside unstaged changes: a named folder per run under ``.git/dgcode/hook/``.

Before the hook writes the staged version of a file into the working tree, the
file's exact bytes (or symlink target, or absence) and permission bits go to
``<git dir>/dgcode/hook/<id>/files/``, with ``unstaged.patch`` (``git diff
--binary``), a ``README.txt`` and a ``manifest.json`` in state ``set-aside``
(RELIABILITY #20).  When the files are back the state becomes ``restored``;
a folder left in ``set-aside`` means a run was interrupted, and the next run
refuses to start until ``dgcode hook restore`` has put the files back.

The folder also holds the hook's lock (one hook run at a time per working
tree, RELIABILITY #17) and, when dgcode's fix conflicts with unstaged
changes, ``fix.patch`` and the fixed files.  The newest ``KEEP`` finished
folders are kept; older ones are pruned.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dgcode.edits.atomic import write_atomic
from dgcode.workflows.hook.filestate import FileState

HOOK_FOLDER = "hook"
MANIFEST = "manifest.json"
FORMAT = 1
KEEP = 10
SET_ASIDE, RESTORED, KEPT = "set-aside", "restored", "kept"
"""Manifest states: files swapped out; all put back; put back except paths changed since (their bytes kept)."""


class StoreError(Exception):
    """The hook's folder is busy or unreadable; ``str()`` is for the user."""


def hook_folder(git_dir: Path) -> Path:
    return git_dir / "dgcode" / HOOK_FOLDER


@contextlib.contextmanager
def hook_lock(git_dir: Path) -> Iterator[None]:
    """Hold ``.git/dgcode/hook/lock`` (flock) for the block, or raise StoreError at once if another run holds it."""
    folder = hook_folder(git_dir)
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(descriptor, 64, 0).decode("ascii", "replace").strip()
            raise StoreError(f"another dgcode hook run holds {folder / 'lock'}"
                             + (f" (process {holder})" if holder.isdigit() else "")) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class AsideEntry:
    """One set-aside path: the person's state (kept in the folder) and the staged state written in its place."""

    path: str
    user: FileState
    staged_digest: str
    """``FileState.digest()`` of the staged state, which is all a manifest read back knows of it."""
    staged: FileState | None = None
    """The staged state itself, in the run that wrote it."""


@dataclass
class AsideRecord:
    """One run's folder and what it holds."""

    folder: Path
    entries: list[AsideEntry]
    state: str = SET_ASIDE
    snapshot_ref: str | None = None
    notes: list[str] | None = None

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def patch_path(self) -> Path:
        return self.folder / "unstaged.patch"

    @property
    def fix_patch_path(self) -> Path:
        return self.folder / "fix.patch"

    def blob_path(self, index: int, side: str) -> Path:
        return self.folder / "files" / f"{index}.{side}"

    def save(self) -> None:
        """Write the manifest atomically (the person's bytes must already be in ``files/``)."""
        document = {
            "format": FORMAT, "id": self.id, "state": self.state, "snapshot_ref": self.snapshot_ref,
            "notes": self.notes or [],
            "files": [{"path": os.fsencode(e.path).decode("utf-8", "backslashreplace"),
                       "path_b64": base64.b64encode(os.fsencode(e.path)).decode("ascii"),
                       "user": e.user.to_json(), "staged_sha256": e.staged_digest} for e in self.entries],
        }
        write_atomic(self.folder / MANIFEST, json.dumps(document, indent=1).encode("utf-8") + b"\n")

    def mark(self, state: str) -> None:
        self.state = state
        self.save()

    def recovery_hint(self) -> str:
        """The commands that bring the set-aside changes back, for messages and README.txt."""
        hint = (f"your unstaged changes are saved in {self.folder}: run `dgcode hook restore` to put them back "
                f"(or, with the working tree at the staged state, `git apply --whitespace=nowarn {self.patch_path}`)")
        if self.snapshot_ref:
            hint += f"; a full snapshot is {self.snapshot_ref} (`git show --stat {self.snapshot_ref}`)"
        return hint


def new_record(git_dir: Path, entries: list[AsideEntry], patch: bytes, snapshot_ref: str | None) -> AsideRecord:
    """Create the run's folder with the person's bytes, the patch, a README and the manifest, all fsynced."""
    base = hook_folder(git_dir)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for attempt in range(1000):
        folder = base / f"{stamp}-{os.getpid()}{f'-{attempt}' if attempt else ''}"
        try:
            folder.mkdir(parents=True)
            break
        except FileExistsError:
            continue
    else:
        raise StoreError(f"cannot create a folder under {base}")
    record = AsideRecord(folder, entries, snapshot_ref=snapshot_ref)
    (folder / "files").mkdir()
    for index, entry in enumerate(entries):
        write_atomic(record.blob_path(index, "user"), entry.user.data)
    write_atomic(record.patch_path, patch)
    write_atomic(folder / "README.txt", (
        "dgcode's pre-commit hook set these unstaged changes aside while it checked the staged files.\n"
        f"{record.recovery_hint()}\n").encode("utf-8", "surrogateescape"))
    record.save()
    return record


def load_record(folder: Path) -> AsideRecord:
    """A run's folder read back: entries with the person's bytes, staged states known by digest only."""
    try:
        document = json.loads((folder / MANIFEST).read_bytes())
        entries = []
        for index, item in enumerate(document["files"]):
            path = os.fsdecode(base64.b64decode(item["path_b64"]))
            data = (folder / "files" / f"{index}.user").read_bytes()
            user = FileState(item["user"]["kind"], data, int(item["user"]["perms"], 8))
            entries.append(AsideEntry(path, user, str(item["staged_sha256"])))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StoreError(f"cannot read {folder / MANIFEST}: {error}") from None
    return AsideRecord(folder, entries, document.get("state", SET_ASIDE), document.get("snapshot_ref"),
                       list(document.get("notes", [])))


def records(git_dir: Path) -> list[Path]:
    """Every run folder, oldest first."""
    base = hook_folder(git_dir)
    if not base.is_dir():
        return []
    return sorted(path for path in base.iterdir() if (path / MANIFEST).is_file())


def _state(folder: Path) -> str | None:
    try:
        return json.loads((folder / MANIFEST).read_bytes()).get("state")
    except (OSError, ValueError, AttributeError):
        return None


def pending(git_dir: Path) -> list[Path]:
    """Run folders whose files were never put back (an interrupted run, or an unreadable manifest), oldest first."""
    return [folder for folder in records(git_dir) if _state(folder) not in (RESTORED, KEPT)]


def prune(git_dir: Path, keep: int = KEEP) -> None:
    """Delete all but the newest ``keep`` restored run folders; others still hold bytes nobody put back."""
    finished = [folder for folder in records(git_dir) if _state(folder) == RESTORED]
    for folder in finished[: max(0, len(finished) - keep)]:
        shutil.rmtree(folder, ignore_errors=True)
