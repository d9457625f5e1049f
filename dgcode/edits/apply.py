"""The apply transaction: a model response in, every edit written or none, with a snapshot, a journal and an undo.

``apply_response`` parses the response, plans every edit in memory, and only
if all of them can apply: takes the working tree's lock (RELIABILITY #17),
snapshots uncommitted work (#1), writes a ``prepared`` journal (#4), writes
the files atomically (#3), and marks the journal ``committed``, keeping it as
the record ``undo`` works from.  A failure at any step leaves the files as
they were; if even putting them back fails, the journal stays and the report
says to run ``dgcode recover`` (#20).

``undo`` reverts dgcode's last apply, but only where each file still holds
exactly the bytes dgcode wrote; otherwise it refuses and names the file
(#14).  It is journaled and snapshotted the same way.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dgcode.edits.atomic import FileSnapshot
from dgcode.edits.diff import FileChange
from dgcode.edits.errors import EditError
from dgcode.edits.infill import InfillEdit
from dgcode.edits.journal import (
    RECOVER_HINT,
    FileRecovery,
    Journal,
    JournalError,
    JournalFile,
    LockHeld,
    StateLocation,
    classify,
    commit_journal,
    discard_journal,
    exclusive_lock,
    locate_state,
    move_to,
    read_last_apply,
    write_journal,
)
from dgcode.edits.parser import Edit, ParseMode, parse_response
from dgcode.edits.plan import EditOutcome, EditPlan, EditStatus, apply_plan, check_plan_fresh, plan_edits
from dgcode.vcs.snapshot import DEFAULT_KEEP, Snapshot, SnapshotError, take_snapshot


@dataclass(frozen=True)
class ApplyReport:
    """What ``apply_response`` did: each edit's outcome, the files written, the snapshot, any failure."""

    root: Path
    outcomes: tuple[EditOutcome, ...] = ()
    parse_problems: tuple[str, ...] = ()
    changes: tuple[FileChange, ...] = ()
    written: tuple[str, ...] = ()
    """Paths written, relative to ``root``; empty unless the apply went through."""
    dry_run: bool = False
    snapshot: Snapshot | None = None
    error: str = ""
    """Why nothing was written although planning succeeded (lock held, snapshot failed, stale, write failed)."""
    recovery_needed: bool = False
    """A journal was left behind: files may be part old, part new until ``dgcode recover`` runs."""

    @property
    def ok(self) -> bool:
        """Every edit applied (or, in a dry run, would apply) and nothing else went wrong."""
        return bool(self.outcomes) and all(o.ok for o in self.outcomes) and not self.parse_problems and not self.error

    def edit_results(self) -> list[dict[str, object]]:
        """Per edit: file, status (applied / refused / failed), reason, level.

        When planning succeeded but the write did not happen, every edit
        reports ``failed`` with the transaction's error as its reason.
        """
        results = []
        for outcome in self.outcomes:
            status, reason = outcome.status.value, outcome.reason
            if outcome.ok and (self.error or self.parse_problems):
                status = EditStatus.FAILED.value
                reason = self.error or "not applied: the response has problems (" + "; ".join(self.parse_problems) + ")"
            level = outcome.level.value if outcome.level is not None else None
            results.append({"index": outcome.edit.index, "file": outcome.path, "status": status,
                            "reason": reason, "level": level, "note": outcome.note})
        return results

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "root": str(self.root),
            "edits": self.edit_results(),
            "files_changed": list(self.written),
            "would_change": [change.path for change in self.changes] if self.dry_run else [],
            "problems": list(self.parse_problems),
            "error": self.error,
            "recovery_needed": self.recovery_needed,
            "snapshot": self.snapshot.to_json() if self.snapshot is not None else None,
        }


def _journal_id(kind: str) -> str:
    now = time.time()
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}.{int(now * 1e6) % 1_000_000:06d}Z-{kind}-{os.getpid()}"


def _relative(location: StateLocation, absolute: Path) -> str:
    return absolute.relative_to(location.base).as_posix()


def _missing_folders(location: StateLocation, plan: EditPlan) -> tuple[str, ...]:
    """Folders the plan's new files need that do not exist yet, relative to the base."""
    missing: set[str] = set()
    for planned in plan.changed_files:
        folder = planned.absolute.parent
        while folder != location.base and location.base in folder.parents and not folder.exists():
            missing.add(_relative(location, folder))
            folder = folder.parent
    return tuple(sorted(missing))


def _journal_for(location: StateLocation, plan: EditPlan, snapshot: Snapshot | None, root: Path) -> Journal:
    files = []
    for planned in plan.changed_files:
        old_mode = planned.absolute.stat().st_mode & 0o7777 if planned.old_bytes is not None else None
        files.append(JournalFile(_relative(location, planned.absolute), planned.old_bytes, planned.new_bytes,
                                 old_mode, old_mode))
    return Journal(_journal_id("apply"), "apply", tuple(files), folders_created=_missing_folders(location, plan),
                   snapshot_ref=snapshot.ref if snapshot else None, meta={"root": str(root)})


def _inside_state_folder(location: StateLocation, plan: EditPlan) -> list[str]:
    """Planned files inside dgcode's state folder (possible outside git, where it is ``.dgcode/``)."""
    return [p.path for p in plan.changed_files if location.folder in (p.absolute, *p.absolute.parents)]


def _write(location: StateLocation, plan: EditPlan, journal: Journal) -> tuple[str, bool]:
    """Journal, then write the plan; returns (error or "", whether a journal was left for recover)."""
    path = write_journal(location, journal)
    try:
        apply_plan(plan)
    except EditError as error:
        sides = {classify(location, entry)[0] for entry in journal.files}
        if "new" not in sides:  # none of dgcode's bytes are left on disk
            discard_journal(path)
            return f"nothing was written: {error}", False
        return f"{error}. The files may be part old, part new: {RECOVER_HINT} (journal {path})", True
    try:
        commit_journal(location, journal, path)
    except (OSError, EditError) as error:
        return f"the edits were written but could not be recorded ({error}); {RECOVER_HINT}", True
    return "", False


def apply_response(
    root: str | os.PathLike[str],
    response_text: str | bytes,
    *,
    mode: ParseMode = "search_replace",
    dry_run: bool = False,
    read_snapshots: Mapping[str, FileSnapshot] | None = None,
    keep_snapshots: int = DEFAULT_KEEP,
) -> ApplyReport:
    """Apply every edit of a model response to the tree at ``root``, or none of them.

    ``read_snapshots`` (path -> FileSnapshot) marks what the model was shown,
    so files changed since are refused as stale.  Raises NotADirectoryError
    if ``root`` is not a folder; every other problem is in the report.
    """
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root} is not a folder")
    parsed = parse_response(response_text, mode)
    if not parsed.edits:
        problems = parsed.problems or ("the response contains no edits",)
        return ApplyReport(Path(os.path.realpath(root)), parse_problems=tuple(problems), dry_run=dry_run)
    return apply_edits(root, parsed.edits, parse_problems=tuple(parsed.problems), dry_run=dry_run,
                       read_snapshots=read_snapshots, keep_snapshots=keep_snapshots)


def apply_edits(
    root: str | os.PathLike[str],
    edits: Sequence[Edit | InfillEdit],
    *,
    parse_problems: tuple[str, ...] = (),
    dry_run: bool = False,
    read_snapshots: Mapping[str, FileSnapshot] | None = None,
    keep_snapshots: int = DEFAULT_KEEP,
) -> ApplyReport:
    """Apply ``edits`` (already parsed, or made by dgcode itself) to the tree at ``root``, or none of them.

    The same checks, journal, snapshot and undo record as apply_response.
    """
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root} is not a folder")
    root_path = Path(os.path.realpath(root))
    plan = plan_edits(root_path, edits, read_snapshots)
    changes = tuple(FileChange(p.path, p.old_bytes, p.new_bytes) for p in plan.changed_files)
    report = ApplyReport(root_path, plan.outcomes, parse_problems, changes, dry_run=dry_run)
    if dry_run:
        return report
    try:
        location = locate_state(root_path)
        if pending := location.pending_journals():
            return _failed(report, f"an earlier apply was interrupted ({pending[0]}); {RECOVER_HINT} first")
        if not report.ok or not changes:
            return report
        if blocked := _inside_state_folder(location, plan):
            return _failed(report, f"refusing to write dgcode's own state folder {location.folder}: {blocked}")
        with exclusive_lock(location):
            if pending := location.pending_journals():
                return _failed(report, f"an earlier apply was interrupted ({pending[0]}); {RECOVER_HINT} first")
            check_plan_fresh(plan)
            snapshot = take_snapshot(root_path, keep=keep_snapshots)
            report = _with(report, snapshot=snapshot)
            error, left = _write(location, plan, _journal_for(location, plan, snapshot, root_path))
    except (LockHeld, JournalError, SnapshotError, EditError) as error:
        return _failed(report, f"nothing was written: {error}")
    except OSError as error:
        return _failed(report, f"nothing was written: {error.strerror or error} ({error.filename or ''})")
    if error:
        return _with(report, error=error, recovery_needed=left)
    return _with(report, written=tuple(change.path for change in changes))


def _with(report: ApplyReport, **changes: object) -> ApplyReport:
    return replace(report, **changes)


def _failed(report: ApplyReport, error: str) -> ApplyReport:
    return _with(report, error=error)


@dataclass(frozen=True)
class UndoReport:
    """What ``undo`` did: the files reverted, or why it refused."""

    undone: bool
    files: tuple[FileRecovery, ...] = ()
    refused: tuple[str, ...] = ()
    message: str = ""
    snapshot: Snapshot | None = None
    recovery_needed: bool = False

    def to_json(self) -> dict[str, object]:
        return {
            "undone": self.undone,
            "message": self.message,
            "files": [{"file": f.path, "action": f.action} for f in self.files],
            "refused": list(self.refused),
            "recovery_needed": self.recovery_needed,
            "snapshot": self.snapshot.to_json() if self.snapshot is not None else None,
        }


def undo(root: str | os.PathLike[str], *, keep_snapshots: int = DEFAULT_KEEP) -> UndoReport:
    """Revert dgcode's last apply in the tree at ``root``, if every file is still as dgcode left it."""
    try:
        location = locate_state(root)
        if not location.folder.is_dir():
            return _nothing_to_undo(location)
        with exclusive_lock(location):
            return _undo_locked(location, root, keep_snapshots)
    except (LockHeld, JournalError, SnapshotError) as error:
        return UndoReport(False, message=f"nothing was undone: {error}", refused=(str(error),))


def _nothing_to_undo(location: StateLocation) -> UndoReport:
    return UndoReport(False, message=f"nothing to undo: dgcode has no record of an apply in {location.base}")


def _undo_locked(location: StateLocation, root: str | os.PathLike[str], keep_snapshots: int) -> UndoReport:
    if pending := location.pending_journals():
        message = f"an earlier apply or undo was interrupted ({pending[0]}); {RECOVER_HINT} first"
        return UndoReport(False, message=message, refused=(message,))
    last = read_last_apply(location)
    if last is None:
        return _nothing_to_undo(location)
    refusals = []
    for entry in last.files:
        side, why = classify(location, entry)
        if side == "old" and entry.old is None:
            why = f"{entry.path} was deleted since dgcode created it"
        elif side == "old":
            why = f"{entry.path} no longer has the bytes dgcode wrote (it is back to what it was before the apply)"
        if side != "new":
            refusals.append(why)
    if refusals:
        message = "not undoing the last apply, because not every file is as dgcode left it:\n" + "\n".join(refusals)
        return UndoReport(False, refused=tuple(refusals), message=message)
    snapshot = take_snapshot(root, keep=keep_snapshots, reason="before undoing an apply")
    journal = Journal(_journal_id("undo"), "undo", tuple(entry.reversed() for entry in last.files),
                      folders_to_remove=last.folders_created, snapshot_ref=snapshot.ref, undoes=last.id)
    path = write_journal(location, journal)
    done, problems = move_to(location, journal, "new")
    if problems:
        _back, trouble = move_to(location, journal, "old")
        if not trouble:
            discard_journal(path)
        hint = f"; {RECOVER_HINT} (journal {path})" if trouble else "; the files were put back as they were"
        return UndoReport(False, tuple(done), tuple(problems), "undo failed: " + "; ".join(problems) + hint,
                          snapshot, recovery_needed=bool(trouble))
    try:
        commit_journal(location, journal, path)
    except (OSError, EditError, JournalError) as error:
        message = f"the files were reverted but this could not be recorded ({error}); run `dgcode recover --finish`"
        return UndoReport(True, tuple(done), message=message, snapshot=snapshot, recovery_needed=True)
    reverted = tuple(replace(item, action="removed" if item.action == "removed" else "reverted") for item in done)
    return UndoReport(True, reverted, message=f"undid the last apply ({len(done)} files)", snapshot=snapshot)
