"""A scratch copy of the working tree, where a candidate's edits are applied and judged, never the user's files.

``ScratchTree(root)`` is a temporary folder (removed on exit) holding the
repository's working-tree state as the person sees it now: every tracked file
as it is on disk (uncommitted changes included; a tracked file deleted on disk
stays absent) and every untracked file that .gitignore does not exclude,
listed by ``git ls-files --cached --others --exclude-standard``. Ignored files
(build output, virtual environments, caches) and ``.git`` are not copied, so
the copy is not a repository. Files keep their mode and mtime; symbolic links
are copied as links (a link pointing outside the repository still points
there: the user's command runs in the copy, but it is the user's own command).
A submodule (listed as a folder) is copied without its ``.git``.

The copy lives in a folder named like the repository (``.../dgcode-candidate-XXXX/REPO``),
so tools that look at the folder's name see the same one.

``write_changes`` puts planned FileChanges' new bytes into the copy; the
changes are planned in the copy itself (``plan_in``) with the same parser
and planner as the real apply, in a dry run that writes nothing.
``try_in_copy`` is the whole judging step `fix --candidates` and the TUI's
/candidates share: a fresh copy, the answer's edits planned and written
there, the person's command run there, the copy removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dgcode.context.gitcli import list_files
from dgcode.edits.apply import ApplyReport, apply_response
from dgcode.edits.diff import FileChange
from dgcode.workflows.user_command import CommandResult, run_user_command


class ScratchTree:
    """A temporary copy of ``root``'s working tree; ``.root`` is the copy's top folder."""

    def __init__(self, root: Path, prefix: str = "dgcode-candidate-"):
        self.source = Path(root)
        self._folder = Path(tempfile.mkdtemp(prefix=prefix))
        self.root = self._folder / self.source.name
        self.files = 0
        try:
            self.root.mkdir()
            self.files = copy_working_tree(self.source, self.root)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> ScratchTree:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def copy_working_tree(root: Path, into: Path) -> int:
    """Copy ``root``'s tracked and untracked-but-not-ignored files, as they are on disk, into ``into``; the count."""
    copied = 0
    for name in list_files(root):
        source, target = root / name, into / name
        if not os.path.lexists(source):  # tracked but deleted in the working tree: absent in the copy too
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        elif os.path.isdir(source):  # a submodule's folder
            shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        elif os.path.isfile(source):
            shutil.copy2(source, target, follow_symlinks=False)
        else:
            continue  # a socket or fifo: nothing a check can read
        copied += 1
    return copied


def plan_in(tree: Path, answer_text: str) -> ApplyReport:
    """The answer's edits planned against the copy's files, as the real apply plans them (dry run)."""
    return apply_response(tree, answer_text, dry_run=True)


def write_changes(tree: Path, changes: Sequence[FileChange]) -> None:
    """Write each change's new bytes into the copy (folders made as needed; an existing file keeps its mode)."""
    for change in changes:
        target = tree / change.path
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(change.new_bytes)


@dataclass(frozen=True)
class CopyTrial:
    """An answer tried in a scratch copy: why its edits did not apply there, or the command's run."""

    edit_blocks: bool
    """The answer holds edit blocks at all."""
    problems: tuple[str, ...] = ()
    """Why the edits could not be written in the copy (empty when they were)."""
    run: CommandResult | None = None
    """The command's run in the copy (None when the edits were not written)."""


def try_in_copy(root: Path, answer_text: str, command: str, timeout_s: float,
                run_command: Callable[[str, Path, float], CommandResult] = run_user_command) -> CopyTrial:
    """Write ``answer_text``'s edits into a fresh copy of ``root``'s working tree and run ``command`` there."""
    with ScratchTree(root) as tree:
        plan = plan_in(tree.root, answer_text)
        if not plan.outcomes:
            return CopyTrial(False, ("the answer holds no edit blocks",))
        if not plan.ok or not plan.changes:
            why = tuple(f"edit {r['index']} ({r['file']}) {r['status']} in the scratch copy: {r['reason']}"
                        for r in plan.edit_results() if r["status"] != "applied")
            return CopyTrial(True, why or ("the edits change nothing",))
        write_changes(tree.root, plan.changes)
        return CopyTrial(True, (), run_command(command, tree.root, timeout_s))
