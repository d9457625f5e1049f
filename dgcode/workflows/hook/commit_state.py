"""Where the commit stands, for the hook: skipped by ``SKIP``, an operation under way, unmerged paths, what is staged.

All read-only: the git folder's marker files and query commands against the
commit's own index (``GIT_INDEX_FILE``, see ``hookgit``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from dgcode.workflows.hook.hookgit import git, split_z

SKIP_ID = "dgcode"
IN_PROGRESS = {"MERGE_HEAD": "a merge", "CHERRY_PICK_HEAD": "a cherry-pick", "REVERT_HEAD": "a revert",
               "rebase-merge": "a rebase", "rebase-apply": "a rebase or `git am`"}
"""Marker files and folders in the (per-worktree) git folder, and what they mean."""


def skip_requested(env: Mapping[str, str]) -> bool:
    """Whether ``SKIP`` (comma-separated hook ids, as the pre-commit framework reads it) names dgcode."""
    return SKIP_ID in [name.strip() for name in env.get("SKIP", "").split(",")]


def operation_in_progress(git_dir: Path) -> str | None:
    """The merge, rebase, cherry-pick or revert under way in this working tree, if any."""
    for name, what in IN_PROGRESS.items():
        if (git_dir / name).exists():
            return what
    return None


def has_unmerged_paths(root: Path) -> bool:
    return bool(git(root, "ls-files", "--unmerged", "-z"))


def staged_files(root: Path) -> tuple[list[str], list[str]]:
    """(every path the commit changes, those that still exist in it), against HEAD (or nothing, before a first commit)."""
    fields = split_z(git(root, "diff", "--cached", "--name-status", "-z", "--no-renames", "--ignore-submodules=all"))
    pairs = list(zip(fields[0::2], fields[1::2]))
    return [path for _status, path in pairs], [path for status, path in pairs if not status.startswith("D")]
