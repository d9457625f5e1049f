"""The apply journal: what a multi-file write is about to do, kept on disk so it can be finished or rolled back.

Before the first file of an apply (or undo) is written, a journal holding
every file's path, old bytes (or absent), new bytes (or absent), SHA-256s and
modes is written atomically and fsynced, in state ``prepared``
(RELIABILITY #4).  Since each file is replaced atomically, after a crash each
file is its old or its new bytes; ``recover`` puts them all back to old (the
default) or all forward to new (``finish=True``) and removes the journal.  An
apply that completes is marked ``committed`` and kept as the record the next
``undo`` works from (``last-apply.json``).

The journal lives in dgcode's private state folder (edits/state.py, which
also holds the lock that lets one dgcode run at a time write there).

A journal or undo record is checked like model output before it is acted on
(RELIABILITY #22): its paths as in ``record_paths``, its modes as permission
bits.  One that fails is refused as a whole (JournalError); nothing it lists
is touched.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from dgcode.edits.atomic import TEMP_PREFIX, TEMP_SUFFIX, fsync_folder, read_with_snapshot, sha256_hex, write_atomic
from dgcode.edits.errors import EditError
from dgcode.edits.paths import resolve_edit_path
from dgcode.edits.record_paths import first_unsafe_path
from dgcode.edits.state import (  # noqa: F401  (re-exported: the journal's callers find the lock here too)
    GIT_STATE_FOLDER,
    PLAIN_STATE_FOLDER,
    JournalError,
    LockHeld,
    StateLocation,
    exclusive_lock,
    locate_state,
)

JOURNAL_FORMAT = 1
RECOVER_HINT = "run `dgcode recover` to roll back, or `dgcode recover --finish` to complete it"

JournalKind = Literal["apply", "undo"]
FileSide = Literal["old", "new", "other"]


class UnsafeJournal(JournalError):
    """A journal or undo record lists a path dgcode would refuse as an edit path."""


@dataclass(frozen=True)
class JournalFile:
    """One file of a journal: its bytes before and after (None: absent) and its modes."""

    path: str
    """Relative to the journal's base folder, ``/``-separated."""
    old: bytes | None
    new: bytes | None
    old_mode: int | None = None
    new_mode: int | None = None

    def bytes_on(self, side: FileSide) -> bytes | None:
        return self.old if side == "old" else self.new

    def mode_on(self, side: FileSide) -> int | None:
        return self.old_mode if side == "old" else self.new_mode

    def reversed(self) -> JournalFile:
        return JournalFile(self.path, self.new, self.old, self.new_mode, self.old_mode)


@dataclass(frozen=True)
class Journal:
    """A multi-file write: ``prepared`` before the first byte is written, ``committed`` when done."""

    id: str
    kind: JournalKind
    files: tuple[JournalFile, ...]
    state: Literal["prepared", "committed"] = "prepared"
    folders_created: tuple[str, ...] = ()
    """Folders the forward write creates; removed again (if empty) on roll back."""
    folders_to_remove: tuple[str, ...] = ()
    """Folders removed (if empty) once the forward write is done (an undo's created folders)."""
    snapshot_ref: str | None = None
    undoes: str | None = None
    """For an undo: the id of the apply it reverts."""
    meta: dict[str, str] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        def blob(data: bytes | None) -> dict[str, object] | None:
            if data is None:
                return None
            return {"sha256": sha256_hex(data), "base64": base64.b64encode(data).decode("ascii")}

        files = [
            {"path": f.path, "old": blob(f.old), "new": blob(f.new), "old_mode": f.old_mode, "new_mode": f.new_mode}
            for f in self.files
        ]
        document = {
            "format": JOURNAL_FORMAT, "id": self.id, "kind": self.kind, "state": self.state, "files": files,
            "folders_created": list(self.folders_created), "folders_to_remove": list(self.folders_to_remove),
            "snapshot_ref": self.snapshot_ref, "undoes": self.undoes, "meta": self.meta,
        }
        return json.dumps(document, indent=1).encode("utf-8") + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Journal:
        """Parse and verify a journal; raises JournalError if it is damaged."""
        def unblob(value: object) -> bytes | None:
            if value is None:
                return None
            content = base64.b64decode(value["base64"], validate=True)
            if sha256_hex(content) != value["sha256"]:
                raise ValueError("a file's bytes do not match their SHA-256")
            return content

        def mode(value: object) -> int | None:
            if value is not None and (type(value) is not int or not 0 <= value <= 0o7777):
                raise ValueError(f"{value!r} is not a file mode")
            return value

        def names(value: object) -> tuple[str, ...]:
            if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
                raise ValueError("a folder list is not a list of names")
            return tuple(value)

        try:
            document = json.loads(data.decode("utf-8"))
            if document.get("format") != JOURNAL_FORMAT:
                raise ValueError(f"unknown format {document.get('format')!r}")
            if document.get("kind") not in ("apply", "undo") or document.get("state") not in ("prepared", "committed"):
                raise ValueError(f"unknown kind or state {document.get('kind')!r}, {document.get('state')!r}")
            files = tuple(
                JournalFile(item["path"], unblob(item["old"]), unblob(item["new"]), mode(item["old_mode"]),
                            mode(item["new_mode"]))
                for item in document["files"]
            )
            return cls(
                document["id"], document["kind"], files, document["state"],
                names(document["folders_created"]), names(document["folders_to_remove"]),
                document["snapshot_ref"], document["undoes"], dict(document["meta"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise JournalError(f"{where} is damaged ({error}); it was not used") from None


def load_journal(path: Path) -> Journal:
    """Read and parse a journal; its paths are not checked yet (see load_checked_journal)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise JournalError(f"cannot read {path}: {error.strerror}") from None
    return Journal.from_bytes(data, str(path))


def load_checked_journal(location: StateLocation, path: Path) -> Journal:
    """Read a journal of ``location`` and check its paths; raises UnsafeJournal if any is unsafe."""
    journal = load_journal(path)
    folders = (*journal.folders_created, *journal.folders_to_remove)
    why = first_unsafe_path(location.base, location.folder, [entry.path for entry in journal.files], folders)
    if why is not None:
        raise UnsafeJournal(f"{path} was refused: {why}; nothing in it was used")
    return journal


def write_journal(location: StateLocation, journal: Journal) -> Path:
    """Write ``journal`` atomically (fsynced, folder fsynced); returns its path."""
    location.ensure()
    path = location.journal_folder / f"{journal.id}.json"
    write_atomic(path, journal.to_bytes(), mode=0o600)
    return path


def read_last_apply(location: StateLocation) -> Journal | None:
    """The committed record of the last apply, or None when there is none."""
    if not location.last_apply_path.exists():
        return None
    return load_checked_journal(location, location.last_apply_path)


def commit_journal(location: StateLocation, journal: Journal, path: Path) -> None:
    """Mark a finished write committed: an apply becomes the undo record; an undo clears it."""
    write_atomic(path, replace(journal, state="committed").to_bytes(), mode=0o600)
    if journal.kind == "apply":
        os.replace(path, location.last_apply_path)
        fsync_folder(location.folder)
    else:
        last = read_last_apply(location)
        if last is not None and last.id == journal.undoes:
            location.last_apply_path.unlink()
            fsync_folder(location.folder)
        discard_journal(path)


def discard_journal(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    fsync_folder(path.parent)


def _current_bytes(absolute: Path) -> bytes | None:
    """The file's bytes, or None if it is absent (resolve_edit_path has refused links and folders)."""
    if not os.path.lexists(absolute):
        return None
    return read_with_snapshot(absolute)[0]


def classify(location: StateLocation, entry: JournalFile) -> tuple[FileSide, str]:
    """Whether the file now holds the entry's old or new bytes, or something else (with why)."""
    try:
        where = resolve_edit_path(location.base, entry.path)
        current = _current_bytes(where.absolute)
    except (OSError, EditError) as error:
        return "other", f"{entry.path} cannot be read as a regular file ({error})"
    if current == entry.new:
        return "new", ""
    if current == entry.old:
        return "old", ""
    if current is None:
        return "other", f"{entry.path} was deleted since dgcode wrote it"
    what = "dgcode's" if entry.new is not None else "no"
    return "other", f"{entry.path} changed since dgcode wrote it (it is {len(current):,} bytes, not {what} version)"


def _remove_temp_files(location: StateLocation, entry: JournalFile) -> None:
    """Delete temp files an interrupted atomic write left beside the entry's file."""
    absolute = location.base / entry.path
    prefix = f"{TEMP_PREFIX}{absolute.name}."
    with contextlib.suppress(OSError):
        for name in os.listdir(absolute.parent):
            if name.startswith(prefix) and name.endswith(TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(absolute.parent / name)


def _remove_own_temp_files(location: StateLocation) -> None:
    """Delete temp files an interrupted journal or record write left in the state folder."""
    for folder in (location.folder, location.journal_folder):
        for path in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}") if folder.is_dir() else ():
            with contextlib.suppress(OSError):
                path.unlink()


def _remove_empty_folders(location: StateLocation, folders: tuple[str, ...]) -> None:
    """Remove the listed folders that are empty, deepest first; each is checked again just before."""
    for folder in sorted(folders, key=lambda name: name.count("/"), reverse=True):
        with contextlib.suppress(OSError, EditError):
            os.rmdir(resolve_edit_path(location.base, folder, folder=True).absolute)


def _write_side(location: StateLocation, entry: JournalFile, side: FileSide) -> None:
    """Make the entry's file hold its ``side`` bytes (absent: removed)."""
    where = resolve_edit_path(location.base, entry.path)
    data = entry.bytes_on(side)
    if data is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(where.absolute)
        fsync_folder(where.absolute.parent)
        return
    where.absolute.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(where.absolute, data, mode=entry.mode_on(side))


@dataclass(frozen=True)
class FileRecovery:
    """What recovery found for one file and did to it."""

    path: str
    found: FileSide
    action: str


def move_to(location: StateLocation, journal: Journal, side: FileSide) -> tuple[list[FileRecovery], list[str]]:
    """Put every file of ``journal`` on its ``side`` bytes; returns what was done and the problems.

    Checks every file first: if any holds neither its old nor its new bytes,
    nothing is written and the problems name those files.
    """
    found = [(entry, *classify(location, entry)) for entry in journal.files]
    problems = [why for _entry, file_side, why in found if file_side == "other"]
    if problems:
        return [FileRecovery(entry.path, file_side, "left as it is") for entry, file_side, _ in found], problems
    done = []
    for entry, file_side, _why in found:
        _remove_temp_files(location, entry)
        if file_side == side:
            done.append(FileRecovery(entry.path, file_side, f"already {side}"))
            continue
        try:
            _write_side(location, entry, side)
        except (OSError, EditError) as error:
            problems.append(f"could not write {entry.path}: {error}")
            done.append(FileRecovery(entry.path, file_side, "left as it is"))
            continue
        verb = "removed" if entry.bytes_on(side) is None else f"rolled {'back' if side == 'old' else 'forward'}"
        done.append(FileRecovery(entry.path, file_side, verb))
    if not problems:
        _remove_empty_folders(location, journal.folders_created if side == "old" else journal.folders_to_remove)
    return done, problems


@dataclass(frozen=True)
class RecoveryReport:
    """What ``recover`` found and did."""

    found: bool
    finished: bool
    files: tuple[FileRecovery, ...] = ()
    problems: tuple[str, ...] = ()
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        return {
            "found": self.found, "finished": self.finished, "ok": self.ok, "message": self.message,
            "files": [{"file": f.path, "found": f.found, "action": f.action} for f in self.files],
            "problems": list(self.problems),
        }


def recover(root: str | os.PathLike[str], *, finish: bool = False) -> RecoveryReport:
    """Roll back (default) or finish every interrupted apply or undo in the tree at ``root``."""
    location = locate_state(root)
    nothing = RecoveryReport(False, finish, message=f"nothing to recover: no interrupted apply in {location.base}")
    if not location.folder.is_dir():
        return nothing  # dgcode never wrote here; do not create its folder just to look
    with exclusive_lock(location):
        _remove_own_temp_files(location)
        paths = location.pending_journals()
        if not paths:
            return nothing
        files: list[FileRecovery] = []
        problems: list[str] = []
        for path in paths:
            try:
                journal = load_checked_journal(location, path)
            except JournalError as error:
                problems.append(f"{error}; inspect it, then delete it to go on")
                continue
            if journal.state == "committed":
                commit_journal(location, journal, path)  # only the bookkeeping was interrupted
                continue
            done, trouble = move_to(location, journal, "new" if finish else "old")
            files.extend(done)
            if trouble:
                problems.extend(trouble)
                problems.append(f"the journal {path} was kept; the snapshot {journal.snapshot_ref or '(none)'} "
                                "holds the work from before the apply")
            elif finish:
                commit_journal(location, journal, path)
            else:
                discard_journal(path)
        verb = "finished" if finish else "rolled back"
        message = f"{verb} the interrupted {'write' if len(paths) == 1 else 'writes'}" if not problems else (
            f"could not recover everything in {location.base}")
        return RecoveryReport(True, finish, tuple(files), tuple(problems), message)
