"""Set unstaged changes aside so a check sees exactly what will be committed, then bring them back byte for byte.

The pre-commit framework's method (RELIABILITY #15), without ``stash push``,
``checkout`` or ``reset`` (RELIABILITY #2):

1. ``git diff`` (working tree against the commit's index) names the tracked
   paths with unstaged changes; intent-to-add files are not part of the
   commit and are left alone, like untracked files;
2. each such path's exact state (bytes and permission bits, symlink target,
   or absence) is saved in a named folder (``aside_store``), with ``git diff
   --binary`` as ``unstaged.patch``;
3. the staged version of each path is written in its place: the index blob
   with the checkout filters (``git cat-file --filters :0:PATH``, so CRLF
   conversion and the like apply as a checkout would), atomically;
4. after the check, ``restore`` puts every path back.  A path the run did not
   touch gets the person's saved state, exactly.  A path the run changed (a
   fix) is merged three ways with ``git merge-file`` (base: the staged
   version; ours: the fix; theirs: the person's version); if that conflicts,
   the person's state is put back unchanged and the fix is kept in the
   folder as ``fix.patch`` for them to apply.

Nothing here writes the index.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from dgcode.workflows.hook.aside_store import (
    KEPT,
    RESTORED,
    AsideEntry,
    AsideRecord,
    StoreError,
    new_record,
)
from dgcode.workflows.hook.filestate import (
    ABSENT,
    FileState,
    FileStateError,
    default_perms,
    put_state,
    read_state,
    remove_empty_folders,
)
from dgcode.workflows.hook.hookgit import HookGitError, git, git_run, split_z

DEFAULT_MAX_ASIDE_BYTES = 256 * 1024 * 1024
"""Unstaged changes larger than this in total are not set aside (the hook declines to run)."""
DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv", "--ignore-submodules=all", "--no-renames")


class SetAsideError(Exception):
    """Unstaged changes could not be set aside; nothing was changed (or everything was put back)."""


@dataclass(frozen=True)
class UnstagedChanges:
    """Tracked paths whose working tree differs from the commit's index."""

    aside: tuple[str, ...] = ()
    """Modified, deleted or type-changed: set aside while the check runs."""
    intent_to_add: tuple[str, ...] = ()
    """``git add -N`` files: not in the commit, left in place like untracked files."""


def unstaged_changes(root: Path) -> UnstagedChanges:
    """Read with ``git diff --name-status`` against ``GIT_INDEX_FILE`` (the index the commit uses)."""
    fields = split_z(git(root, "diff", "--name-status", "-z", *DIFF_OPTIONS))
    aside, added = [], []
    for status, path in zip(fields[0::2], fields[1::2]):
        (added if status.startswith("A") else aside).append(path)
    return UnstagedChanges(tuple(aside), tuple(added))


def changed_paths(root: Path) -> set[str]:
    """Every tracked path whose working tree differs from the index now (intent-to-add ones included)."""
    return set(split_z(git(root, "diff", "--name-only", "-z", *DIFF_OPTIONS)))


def index_modes(root: Path, paths: tuple[str, ...]) -> dict[str, str]:
    """Stage-0 index mode (``100644``, ``100755``, ``120000``, ``160000``) of each path that has one."""
    if not paths:
        return {}
    modes = {}
    for record in git(root, "ls-files", "--stage", "-z", "--", *paths).split(b"\0"):
        if b"\t" not in record:
            continue
        info, name = record.split(b"\t", 1)
        mode, _blob, stage = info.decode("ascii").split()
        if stage == "0":
            modes[os.fsdecode(name)] = mode
    return modes


def staged_state(root: Path, path: str, mode: str | None, existing: FileState) -> FileState:
    """What a checkout of the index entry would put at ``path``."""
    if mode is None:
        return ABSENT
    if mode == "120000":
        return FileState("symlink", git(root, "cat-file", "blob", f":0:{path}"))
    if mode in ("100644", "100755"):
        data = git(root, "cat-file", "--filters", f":0:{path}")
        return FileState("file", data, default_perms(mode == "100755", existing))
    raise SetAsideError(f"{path} is a {mode} entry (submodule?); the hook does not set those aside")


@dataclass
class AsideRun:
    """The set-aside of one hook run: the record, and folders created while writing staged versions."""

    record: AsideRecord
    created_folders: list[Path] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return [entry.path for entry in self.record.entries]


def set_aside(root: Path, git_dir: Path, changes: UnstagedChanges, *,
              snapshot: Callable[[], str | None] = lambda: None,
              max_bytes: int = DEFAULT_MAX_ASIDE_BYTES) -> AsideRun | None:
    """Save the unstaged paths' states and write their staged versions; None when nothing needs setting aside.

    ``snapshot()`` runs after the person's files are read and before
    anything is written (the pipeline takes a ``refs/dgcode/snapshots`` ref
    there).  On any failure the paths already written are put back and
    SetAsideError is raised.
    """
    if not changes.aside:
        return None
    try:
        users = {path: read_state(root / path) for path in changes.aside}
        total = sum(len(state.data) for state in users.values())
        if total > max_bytes:
            raise SetAsideError(f"unstaged changes total {total:,} bytes, over the {max_bytes:,}-byte limit "
                                "for setting them aside")
        modes = index_modes(root, changes.aside)
        entries = []
        for path in changes.aside:
            staged = staged_state(root, path, modes.get(path), users[path])
            entries.append(AsideEntry(path, users[path], staged.digest(), staged))
        patch = git(root, "diff", "--binary", "--src-prefix=a/", "--dst-prefix=b/", *DIFF_OPTIONS, "--",
                    *changes.aside, ok_codes=(0, 1))
        record = new_record(git_dir, entries, patch, snapshot())
    except (HookGitError, StoreError, FileStateError, OSError, ValueError) as error:
        raise SetAsideError(f"could not set unstaged changes aside: {error}") from None
    run = AsideRun(record)
    done: list[AsideEntry] = []
    try:
        for entry in entries:
            done.append(entry)
            run.created_folders += put_state(root / entry.path, entry.staged)
    except Exception as error:  # noqa: BLE001 - whatever it was, the files written so far go back
        problems = _put_back(root, done, run)
        if problems:
            raise SetAsideError(f"could not write the staged version of {done[-1].path} ({error}), and putting "
                                f"back failed ({'; '.join(problems)}); {record.recovery_hint()}") from None
        record.mark(RESTORED)
        raise SetAsideError(f"could not write the staged version of {done[-1].path}: {error}; "
                            "your files were put back") from None
    return run


def _put_back(root: Path, entries: list[AsideEntry], run: AsideRun) -> list[str]:
    problems = []
    for entry in entries:
        try:
            put_state(root / entry.path, entry.user)
        except Exception as error:  # noqa: BLE001 - keep going: every other file still goes back
            problems.append(str(error))
    remove_empty_folders(run.created_folders)
    return problems


class SignalShield:
    """Hold SIGINT, SIGTERM and SIGHUP while files are being swapped (``hit`` says whether one came).

    A swap cut in half would leave some paths staged, some not; the pipeline
    wraps ``set_aside`` and ``restore`` in this and acts on ``hit`` after.
    """

    SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

    def __init__(self) -> None:
        self.hit = False
        self.previous: dict[int, object] = {}

    def __enter__(self) -> Self:
        with contextlib.suppress(ValueError):  # not the main thread: nothing to hold
            for number in self.SIGNALS:
                self.previous[number] = signal.signal(number, self._note)
        return self

    def _note(self, _number: int, _frame: object) -> None:
        self.hit = True

    def __exit__(self, *_exc: object) -> None:
        for number, handler in self.previous.items():
            signal.signal(number, handler)


@dataclass
class RestoreResult:
    """What ``restore`` did with each set-aside path."""

    restored: list[str] = field(default_factory=list)
    """The person's state is back, exactly."""
    merged: list[str] = field(default_factory=list)
    """The run changed the path; the working tree holds that change merged with the person's changes."""
    conflicts: list[tuple[str, FileState, FileState]] = field(default_factory=list)
    """The run's change conflicted: the person's state is back; (path, staged, the run's version) of each,
    the run's version saved in the folder and as ``fix.patch``."""
    left: list[str] = field(default_factory=list)
    """Changed since it was set aside and not merged (``dgcode hook restore``): left as it is."""
    problems: list[str] = field(default_factory=list)
    """Paths that could not be written; the person's bytes are still in the folder."""

    @property
    def ok(self) -> bool:
        return not self.problems


def restore(root: Path, run: AsideRun, *, merge: bool = True) -> RestoreResult:
    """Put each set-aside path back (see the module docstring); marks the record restored when all went back."""
    record, result = run.record, RestoreResult()
    for index, entry in enumerate(record.entries):
        target = root / entry.path
        try:
            current = read_state(target)
            if current.same_as(entry.user):
                result.restored.append(entry.path)
                continue
            if current.digest() == entry.staged_digest:
                put_state(target, entry.user)
                result.restored.append(entry.path)
                continue
            if not merge or entry.staged is None:
                result.left.append(entry.path)
                continue
            combined = merge_states(record.folder, entry.staged, current, entry.user)
            if combined is not None:
                put_state(target, combined)
                result.merged.append(entry.path)
            else:
                _write_blob(record.blob_path(index, "fix"), current.data)
                put_state(target, entry.user)
                result.conflicts.append((entry.path, entry.staged, current))
        except Exception as error:  # noqa: BLE001 - every other path still goes back
            result.problems.append(f"{entry.path}: {error}")
    remove_empty_folders(run.created_folders)
    if result.conflicts:
        try:
            _write_blob(record.fix_patch_path, b"".join(fix_diff(path, staged, fixed)
                                                        for path, staged, fixed in result.conflicts))
        except Exception as error:  # noqa: BLE001 - the fixed files themselves are saved next to it
            record.notes = [f"fix.patch could not be written: {error}"]
    if result.ok:
        record.notes = (record.notes or []) + [f"left as it was (changed since set aside): {path}"
                                               for path in result.left]
        try:
            record.mark(RESTORED if not result.left else KEPT)
        except Exception as error:  # noqa: BLE001 - the files are back; only the record says otherwise
            result.problems.append(f"the files are back, but {record.folder} could not be marked restored "
                                   f"({error}); `dgcode hook restore` will find nothing left to do")
    return result


def _write_blob(path: Path, data: bytes) -> None:
    from dgcode.edits.atomic import write_atomic

    write_atomic(path, data)


def merge_states(scratch: Path, base: FileState, ours: FileState, theirs: FileState) -> FileState | None:
    """``git merge-file`` of three file states; None when they conflict or are not all regular text files."""
    if {base.kind, ours.kind, theirs.kind} != {"file"}:
        return None
    if ours.executable != base.executable and theirs.executable != base.executable \
            and ours.executable != theirs.executable:
        return None
    perms = theirs.perms if ours.executable == base.executable else default_perms(ours.executable, theirs)
    with tempfile.TemporaryDirectory(prefix="merge-", dir=scratch) as folder:
        names = []
        for side, state in (("ours", ours), ("base", base), ("theirs", theirs)):
            name = os.path.join(folder, side)
            with open(name, "wb") as handle:
                handle.write(state.data)
            names.append(name)
        done = git_run(folder, "merge-file", "-p", "--quiet", *names, ok_codes=None)
    if done.returncode != 0:
        return None
    return FileState("file", done.stdout, perms)


def fix_diff(path: str, before: FileState, after: FileState) -> bytes:
    """A ``git apply``-able diff from ``before`` to ``after`` at ``path`` (``git diff --no-index --binary``)."""
    with tempfile.TemporaryDirectory(prefix="dgcode-hook-diff-") as folder:
        sides = []
        for side, state in (("a", before), ("b", after)):
            name = os.path.join(folder, side, path)
            if state.kind != "absent":
                put_state(name, state)
                sides.append(f"{side}/{path}")
            else:
                sides.append(os.devnull)
        done = git_run(folder, "diff", "--no-index", "--binary", "--no-prefix", "--no-color", "--no-ext-diff",
                       "--", *sides, ok_codes=(0, 1))
    return done.stdout


def restore_pending(root: Path, git_dir: Path) -> list[tuple[AsideRecord, RestoreResult]]:
    """Put back the changes of every interrupted run (``dgcode hook restore``), oldest first, without merging.

    A path still holding the staged version gets the person's state back; a
    path changed since is left as it is (their version stays in the folder).
    Run under the hook's lock.
    """
    from dgcode.workflows.hook.aside_store import load_record, pending

    done = []
    for folder in pending(git_dir):
        record = load_record(folder)
        done.append((record, restore(root, AsideRun(record), merge=False)))
    return done
