"""The git state shown to the model: staged diff, unstaged diff, untracked files.

Read with query commands only (``git diff``, ``git diff --cached``,
``git ls-files --others``).  Files .dgcodeignore excludes are kept out of all
three (by ``:(exclude)`` pathspecs for the diffs), and each diff is cut at a
character cap with a note, so a huge change cannot crowd out the prompt.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dgcode.context.gitcli import run_git, split_z
from dgcode.context.ignore import DGCODEIGNORE, IgnoreRules

DEFAULT_MAX_DIFF_CHARS = 20_000
DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv")


@dataclass(frozen=True)
class GitState:
    """Uncommitted work in the repository, as text the model can read."""

    staged: str = ""
    """``git diff --cached``: what the next commit would contain."""
    unstaged: str = ""
    """``git diff``: changes in the work tree not yet staged."""
    untracked: tuple[str, ...] = ()
    """New files git does not track yet (ignored ones left out)."""
    notes: tuple[str, ...] = ()
    """What was cut or left out, for the person at the terminal."""

    @property
    def is_clean(self) -> bool:
        return not (self.staged or self.unstaged or self.untracked)


def _diff(root: str | os.PathLike[str], rules: IgnoreRules, staged: bool, max_chars: int,
          notes: list[str]) -> str:
    which = ("--cached",) if staged else ()
    names = split_z(run_git(root, "diff", *which, "--name-only", "-z", "--no-renames"))
    hidden = [name for name in names if rules.dgcode_ignored(name)]
    pathspec = ("--", ".", *(f":(exclude,top,literal){name}" for name in hidden)) if hidden else ()
    text = run_git(root, "diff", *which, *DIFF_OPTIONS, *pathspec).decode("utf-8", "replace")
    label = "staged" if staged else "unstaged"
    if hidden:
        notes.append(f"{label} changes to {len(hidden)} file(s) excluded by {DGCODEIGNORE} left out")
    if len(text) > max_chars:
        cut = text.rfind("\n", 0, max_chars) + 1 or max_chars
        notes.append(f"{label} diff is {len(text):,} characters; only the first {cut:,} are shown")
        text = text[:cut] + f"[... {label} diff cut at {cut:,} of {len(text):,} characters ...]\n"
    return text


def read_git_state(root: str | os.PathLike[str], rules: IgnoreRules | None = None, *,
                   max_diff_chars: int = DEFAULT_MAX_DIFF_CHARS) -> GitState:
    """Staged and unstaged diffs and untracked files of the repository at ``root``."""
    rules = rules or IgnoreRules(root)
    notes: list[str] = []
    staged = _diff(root, rules, True, max_diff_chars, notes)
    unstaged = _diff(root, rules, False, max_diff_chars, notes)
    untracked = split_z(run_git(root, "ls-files", "-z", "--others", "--exclude-standard"))
    shown = rules.filter(untracked)
    if len(shown) < len(untracked):
        notes.append(f"{len(untracked) - len(shown)} untracked file(s) excluded by {DGCODEIGNORE} left out")
    return GitState(staged, unstaged, tuple(sorted(shown)), tuple(notes))
