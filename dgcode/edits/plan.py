"""Edit plans: check every edit of a response in memory, then write all files or none.

``plan_edits`` resolves each edit's path, reads and decodes its file once,
and applies the edits to that file in order on the in-memory text, recording
an outcome per edit.  It writes nothing.  A plan is applicable only when every
edit succeeded (RELIABILITY #4).  ``apply_plan`` re-checks every path and
every file's freshness before the first write (RELIABILITY #13), then writes
each changed file atomically; if a write fails it puts back the files it
already wrote.  The plan keeps old bytes and snapshots so an undo journal can
be added around ``apply_plan`` later.

Also refused while planning: a file the user cannot write (RELIABILITY #24;
checked again before the first write), an edit whose result would be over
the size cap that reading a file for an edit enforces (one limit, so dgcode
never writes a file it would then refuse to edit), and two or more
whole-file edits for one file (which version is meant is unclear; each is
refused, so nothing applies).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from dgcode.edits.atomic import FileSnapshot, check_still_absent, check_writable, read_with_snapshot, write_atomic
from dgcode.edits.errors import EditError, ErrorCode
from dgcode.edits.infill import InfillEdit, apply_infill
from dgcode.edits.matching import MatchLevel
from dgcode.edits.parser import Edit, SearchReplaceEdit, WholeFileEdit
from dgcode.edits.paths import RepoPath, normalize_edit_path, resolve_edit_path
from dgcode.edits.search_replace import apply_search_replace
from dgcode.edits.textfile import DEFAULT_MAX_BYTES, TextFile
from dgcode.edits.wholefile import replace_whole_file

FAILED_CODES = frozenset({ErrorCode.NO_MATCH, ErrorCode.MISSING_FILE, ErrorCode.NOT_EMPTY, ErrorCode.IO_FAILED})
"""Codes for edits that were allowed but did not fit the file; the rest are refusals."""


class EditStatus(str, Enum):
    """What became of one edit in a plan."""

    APPLIED = "applied"
    """Checked and applied to the in-memory text (written only if the plan applies)."""
    REFUSED = "refused"
    """Not allowed: unsafe path, binary/huge/non-UTF-8 file, ambiguous match, stale file."""
    FAILED = "failed"
    """Allowed but did not fit: SEARCH not found, file missing, and the like."""


@dataclass(frozen=True)
class EditOutcome:
    """One edit's result: its file, status, reason (empty when applied) and match level."""

    edit: Edit
    path: str
    status: EditStatus
    reason: str = ""
    level: MatchLevel | None = None
    """The tolerance used; None for new files, whole-file edits, and failures."""
    note: str = ""
    """What was forgiven to apply it (edits/search_replace.py), or ""."""

    @property
    def ok(self) -> bool:
        return self.status is EditStatus.APPLIED


@dataclass(frozen=True)
class PlannedFile:
    """The bytes one file has now and will have after the plan applies."""

    path: str
    absolute: Path
    old_bytes: bytes | None
    """None: the file does not exist yet."""
    new_bytes: bytes
    snapshot: FileSnapshot | None
    """What was read; None for a new file (it must still be absent at apply time)."""

    @property
    def created(self) -> bool:
        return self.old_bytes is None

    @property
    def changed(self) -> bool:
        return self.old_bytes != self.new_bytes


@dataclass(frozen=True)
class EditPlan:
    """Every edit's outcome and every file to write; nothing written yet."""

    root: Path
    outcomes: tuple[EditOutcome, ...]
    files: tuple[PlannedFile, ...]

    @property
    def applicable(self) -> bool:
        """True when every edit was applied in memory (all or nothing)."""
        return all(outcome.ok for outcome in self.outcomes)

    @property
    def problems(self) -> tuple[str, ...]:
        """One line per edit that did not apply."""
        return tuple(
            f"edit {outcome.edit.index} ({outcome.path}) {outcome.status.value}: {outcome.reason}"
            for outcome in self.outcomes
            if not outcome.ok
        )

    @property
    def changed_files(self) -> tuple[PlannedFile, ...]:
        return tuple(planned for planned in self.files if planned.changed)


@dataclass
class _FileState:
    """A file as the plan sees it while edits are applied in order."""

    where: RepoPath
    snapshot: FileSnapshot | None = None
    old_bytes: bytes | None = None
    text: TextFile | None = None
    error: EditError | None = None
    touched: bool = False


def _load_file(where: RepoPath, read_snapshot: FileSnapshot | None, max_bytes: int) -> _FileState:
    """Read and decode one file, checking it against what the model was shown."""
    state = _FileState(where)
    try:
        if not os.path.lexists(where.absolute):
            if read_snapshot is not None:
                raise EditError(
                    f"{where.relative} was deleted since dgcode read it; not recreating it",
                    code=ErrorCode.STALE,
                    path=where.relative,
                )
            return state
        data, snapshot = read_with_snapshot(where.absolute, max_bytes=max_bytes)
        if read_snapshot is not None and (snapshot.size, snapshot.sha256) != (read_snapshot.size, read_snapshot.sha256):
            changed = ", ".join(read_snapshot.differences(snapshot))
            raise EditError(
                f"{where.relative} changed since dgcode read it ({changed}); the edit was made "
                "against the old text, so it is refused. Run the request again.",
                code=ErrorCode.STALE,
                path=where.relative,
            )
        state.snapshot, state.old_bytes = snapshot, data
        state.text = TextFile.from_bytes(data, name=where.relative, max_bytes=max_bytes)
        try:
            info = os.lstat(where.absolute)
        except OSError as error:
            raise EditError(f"cannot inspect {where.relative}: {error.strerror}", code=ErrorCode.IO_FAILED,
                            path=where.relative) from None
        check_writable(where.absolute, info, name=where.relative)
    except EditError as error:
        state.error = error
    return state


def _apply_one(state: _FileState, edit: Edit, max_bytes: int) -> tuple[MatchLevel | None, str]:
    """Apply ``edit`` to the in-memory text: (match level, what was forgiven); raises EditError, text unchanged."""
    level, note = None, ""
    if isinstance(edit, SearchReplaceEdit):
        replacement = apply_search_replace(state.text, edit.search, edit.replace, path=state.where.relative,
                                           new_in_this_answer=state.old_bytes is None)
        new_text, level, note = replacement.text_file, replacement.level, replacement.note
    elif isinstance(edit, InfillEdit):
        new_text = apply_infill(state.text, edit)
    else:
        new_text = replace_whole_file(state.text, edit.content, name=state.where.relative)
    size = len(new_text.to_bytes())
    if size > max_bytes:
        raise EditError(
            f"the edit would make {state.where.relative} {size:,} bytes, over the {max_bytes:,}-byte limit "
            "for edits (dgcode could not edit the file again)",
            code=ErrorCode.TOO_LARGE,
            path=state.where.relative,
        )
    state.text = new_text
    return level, note


def _duplicate_whole_files(edits: list[Edit]) -> dict[int, str]:
    """Reasons, by position in ``edits``, for whole-file edits that share their file with another one."""
    positions: dict[str, list[int]] = {}
    for position, edit in enumerate(edits):
        if isinstance(edit, WholeFileEdit):
            with contextlib.suppress(EditError):
                positions.setdefault(normalize_edit_path(edit.path), []).append(position)
    reasons = {}
    for path, found in positions.items():
        if len(found) > 1:
            numbers = ", ".join(str(edits[position].index) for position in found)
            for position in found:
                reasons[position] = (f"the response has {len(found)} whole-file versions of {path} (edits {numbers}); "
                                     "which one is meant is unclear, so none is used")
    return reasons


def _outcome_for_error(edit: Edit, path: str, error: EditError) -> EditOutcome:
    status = EditStatus.FAILED if error.code in FAILED_CODES else EditStatus.REFUSED
    return EditOutcome(edit, path, status, str(error))


def _normalized_keys(read_snapshots: Mapping[str, FileSnapshot]) -> dict[str, FileSnapshot]:
    """Key snapshots by normalized path (``./a.py`` is ``a.py``), dropping unsafe names."""
    normalized = {}
    for raw, snapshot in read_snapshots.items():
        with contextlib.suppress(EditError):
            normalized[normalize_edit_path(raw)] = snapshot
    return normalized


def plan_edits(
    root: str | os.PathLike[str],
    edits: Iterable[Edit],
    read_snapshots: Mapping[str, FileSnapshot] | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> EditPlan:
    """Check and apply ``edits`` in memory against the repository at ``root``.

    ``read_snapshots`` maps normalized relative paths to what dgcode showed
    the model; a file that changed since is refused as stale.  Never writes.
    """
    root_path = Path(os.path.realpath(root))
    snapshots = _normalized_keys(read_snapshots or {})
    states: dict[str, _FileState] = {}
    outcomes: list[EditOutcome] = []
    edits = list(edits)
    duplicates = _duplicate_whole_files(edits)
    for position, edit in enumerate(edits):
        if position in duplicates:
            error = EditError(duplicates[position], code=ErrorCode.DUPLICATE_FILE, path=edit.path)
            outcomes.append(_outcome_for_error(edit, normalize_edit_path(edit.path), error))
            continue
        try:
            where = resolve_edit_path(root_path, edit.path)
        except EditError as error:
            outcomes.append(_outcome_for_error(edit, edit.path, error))
            continue
        state = states.get(where.relative)
        if state is None:
            state = states[where.relative] = _load_file(where, snapshots.get(where.relative), max_bytes)
        if state.error is not None:
            outcomes.append(_outcome_for_error(edit, where.relative, state.error))
            continue
        try:
            level, note = _apply_one(state, edit, max_bytes)
        except EditError as error:
            outcomes.append(_outcome_for_error(edit, where.relative, error))
            continue
        state.touched = True
        outcomes.append(EditOutcome(edit, where.relative, EditStatus.APPLIED, "", level, note))
    files = tuple(
        PlannedFile(state.where.relative, state.where.absolute, state.old_bytes, state.text.to_bytes(), state.snapshot)
        for state in states.values()
        if state.touched and state.text is not None
    )
    return EditPlan(root_path, tuple(outcomes), files)


def check_plan_fresh(plan: EditPlan) -> None:
    """Raise EditError if any file to write moved, became unsafe, or changed since planning."""
    for planned in plan.changed_files:
        where = resolve_edit_path(plan.root, planned.path)
        if where.absolute != planned.absolute:
            raise EditError(
                f"{planned.path} now resolves elsewhere; not writing", code=ErrorCode.STALE, path=planned.path
            )
        if planned.snapshot is None:
            check_still_absent(planned.absolute)
        else:
            planned.snapshot.check_unchanged(planned.absolute)
            try:
                info = os.lstat(planned.absolute)
            except OSError as error:
                raise EditError(f"{planned.path} cannot be inspected ({error.strerror}); not writing",
                                code=ErrorCode.STALE, path=planned.path) from None
            check_writable(planned.absolute, info, name=planned.path)


def _make_parents(planned: PlannedFile, root: Path) -> list[Path]:
    """Create missing folders above a new file; returns them, deepest last."""
    missing = []
    folder = planned.absolute.parent
    while folder != root and not folder.exists():
        missing.append(folder)
        folder = folder.parent
    created = []
    for folder in reversed(missing):
        os.mkdir(folder)
        created.append(folder)
    return created


def _roll_back(written: list[PlannedFile], folders: list[Path]) -> list[str]:
    """Put back files this apply wrote (if still ours); returns what could not be."""
    failures = []
    for planned in reversed(written):
        try:
            with open(planned.absolute, "rb") as handle:
                if handle.read() != planned.new_bytes:
                    failures.append(f"{planned.path} (changed by someone else meanwhile)")
                    continue
            if planned.old_bytes is None:
                os.unlink(planned.absolute)
            else:
                write_atomic(planned.absolute, planned.old_bytes)
        except (OSError, EditError) as error:
            failures.append(f"{planned.path} ({error})")
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            os.rmdir(folder)
    return failures


def apply_plan(plan: EditPlan) -> tuple[str, ...]:
    """Write every changed file of an applicable plan; returns the paths written.

    Raises EditError, writing nothing, when the plan is not applicable or any
    file is stale.  If a write fails part-way, files already written are put
    back to their old bytes before the error is raised.
    """
    if not plan.applicable:
        listed = "\n".join(plan.problems)
        raise EditError(
            f"not applying any edit, because not every edit can apply:\n{listed}",
            code=ErrorCode.NOT_APPLICABLE,
        )
    check_plan_fresh(plan)
    written: list[PlannedFile] = []
    folders: list[Path] = []
    for planned in plan.changed_files:
        try:
            if planned.created:
                folders.extend(_make_parents(planned, plan.root))
            write_atomic(planned.absolute, planned.new_bytes, refuse_read_only=True)
        except (OSError, EditError) as error:
            failures = _roll_back(written, folders)
            undone = (
                "put back the files already written" if not failures else "could not put back: " + "; ".join(failures)
            )
            raise EditError(
                f"writing {planned.path} failed ({error}); {undone}",
                code=ErrorCode.IO_FAILED,
                path=planned.path,
            ) from error
        written.append(planned)
    return tuple(planned.path for planned in written)
