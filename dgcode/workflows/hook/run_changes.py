"""What a hook run changed in the working tree, shown as diffs, and the set-aside changes put back under the lock.

After the check (and dgcode's fix) ran on the staged state, a file counts as
changed by the run when:

- it had unstaged changes (so it was set aside) and no longer holds the
  staged version written in its place; or
- it had none and ``git diff`` now lists it (and did not right after the
  set-aside, which leaves intent-to-add files listed).

Each change is shown as a ``git diff --no-index`` from the staged version.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from dgcode.workflows.hook.filestate import FileState, read_state
from dgcode.workflows.hook.staged import (
    AsideRun,
    RestoreResult,
    changed_paths,
    fix_diff,
    index_modes,
    restore,
    staged_state,
)

LOCK_TRIES, LOCK_WAIT_S = 50, 0.2


@dataclass
class RunChanges:
    """Files the run changed: tracked ones that had no unstaged changes, set-aside ones; their diffs."""

    outside: list[str] = field(default_factory=list)
    aside: dict[str, FileState] = field(default_factory=dict)
    """Set-aside path -> what the run left there."""
    diffs: list[bytes] = field(default_factory=list)
    problem: str = ""


def collect_changes(root: Path, run: AsideRun | None, baseline: set[str] | None) -> RunChanges:
    """Compare the working tree with the staged state the run started from (never raises: the files must go back).

    Without a ``baseline`` (it could not be read) only set-aside paths are compared.
    """
    changes = RunChanges()
    try:
        set_aside = set(run.paths) if run is not None else set()
        if baseline is not None:
            changes.outside = sorted(changed_paths(root) - baseline - set_aside)
        modes = index_modes(root, tuple(changes.outside))
        for path in changes.outside:
            now = read_state(root / path)
            changes.diffs.append(fix_diff(path, staged_state(root, path, modes.get(path), now), now))
        for entry in run.record.entries if run is not None else ():
            now = read_state(root / entry.path)
            if now.digest() != entry.staged_digest:
                changes.aside[entry.path] = now
                changes.diffs.append(fix_diff(entry.path, entry.staged, now))
    except Exception as error:  # noqa: BLE001 - reported, and the restore still runs
        changes.problem = f"could not tell which files the run changed: {error}"
    return changes


def restore_locked(root: Path, run: AsideRun) -> RestoreResult:
    """``restore`` under the working tree's dgcode lock; if another run holds it for long, restore anyway."""
    from dgcode.edits.journal import LockHeld, exclusive_lock, locate_state

    for _attempt in range(LOCK_TRIES):
        try:
            with exclusive_lock(locate_state(root)):
                return restore(root, run)
        except LockHeld:
            time.sleep(LOCK_WAIT_S)
    return restore(root, run)
