"""git for the commit hook: the commit's own index, literal pathspecs, no pager, no optional locks.

Inside ``git commit`` the hook must read the index *that commit* is using:
git passes it in ``GIT_INDEX_FILE`` (``.git/index``, or a temporary index for
``git commit -a`` and ``git commit -- PATHS``).  ``dgcode.context.gitcli``
drops that variable on purpose (a hook's environment must not redirect
dgcode's ordinary reads); this runner keeps it, made absolute, so ``git diff``
compares the working tree with what is about to be committed.

Only query commands and ``git apply`` / ``merge-file`` style commands that
write nothing into the index are run through it; it never stages anything
(RELIABILITY #2).  The running itself (settings, time limit, errors) is
dgcode's one git runner, ``dgcode.vcs.git``; this module only chooses the
environment: the caller's redirects kept, GIT_INDEX_FILE passed explicitly,
literal pathspecs.
"""

from __future__ import annotations

import os
from pathlib import Path

from dgcode.vcs.git import GitError, GitResult, run


class HookGitError(GitError):
    """A git command failed or could not run; ``str()`` is for the user."""


def absolutize_index_variable(cwd: str | os.PathLike[str] | None = None) -> None:
    """Make ``GIT_INDEX_FILE`` absolute in this process, so later work in other folders reads the same index."""
    index = os.environ.get("GIT_INDEX_FILE")
    if index and not os.path.isabs(index):
        os.environ["GIT_INDEX_FILE"] = os.path.join(os.fspath(cwd) if cwd else os.getcwd(), index)


def git(root: str | os.PathLike[str], *args: str, stdin: bytes | None = None,
        ok_codes: tuple[int, ...] = (0,)) -> bytes:
    """Run ``git args`` in ``root``; its stdout, or HookGitError naming the command."""
    return git_run(root, *args, stdin=stdin, ok_codes=ok_codes).stdout


def git_run(root: str | os.PathLike[str], *args: str, stdin: bytes | None = None,
            ok_codes: tuple[int, ...] | None = (0,)) -> GitResult:
    """Run ``git args`` in ``root``; the finished process (HookGitError when the exit status is not in ok_codes)."""
    index = os.environ.get("GIT_INDEX_FILE")  # the commit's own index, made absolute by the runner
    return run(root, *args, stdin=stdin, ok_codes=ok_codes, inherit_redirects=True, index_file=index or None,
               env={"GIT_LITERAL_PATHSPECS": "1"}, error=HookGitError)


def split_z(output: bytes) -> list[str]:
    """NUL-separated names, decoded so that undecodable bytes survive (``surrogateescape``)."""
    return [name.decode("utf-8", "surrogateescape") for name in output.split(b"\0") if name]


def shown(path: str) -> str:
    """A path for messages: undecodable bytes written as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def locate(start: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(top of the working tree, its absolute git folder) for ``start``; HookGitError outside a repository."""
    lines = git(start, "rev-parse", "--show-toplevel", "--absolute-git-dir").decode("utf-8", "surrogateescape")
    parts = lines.splitlines()
    if len(parts) != 2 or not parts[0]:
        raise HookGitError(f"{os.fspath(start)} is not inside a git working tree")
    return Path(parts[0]), Path(parts[1])
