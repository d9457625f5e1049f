"""The git command line, run read-only: find the repository, list its files, run a query command.

Every call goes through dgcode's one git runner, ``dgcode.vcs.git`` (its
settings: no pager, colour or path quoting, ``GIT_OPTIONAL_LOCKS=0`` so a read
never takes the index lock another git process may need, a time limit), with
``GIT_DIR``, ``GIT_WORK_TREE`` and ``GIT_INDEX_FILE`` dropped: a hook's
environment must not redirect dgcode's reads.  Only query commands are run
from this package; it never changes the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from dgcode.context.errors import ContextError
from dgcode.vcs.git import GitError, run

GIT_TIMEOUT_S = 30
"""Context reads are interactive: they give up sooner than the runner's default."""


class GitContextError(ContextError, GitError):
    """A git read for the editor context failed: a ContextError that also carries command, status and stderr."""

    NOT_FOUND = "git is not installed or not on PATH; dgcode needs it to read the repository"


def run_git(root: str | os.PathLike[str], *args: str, stdin: bytes | None = None,
            ok_codes: tuple[int, ...] = (0,)) -> bytes:
    """Run ``git args`` in ``root`` and return its stdout; raise ContextError (GitContextError) on failure."""
    return run(root, *args, stdin=stdin, ok_codes=ok_codes, timeout_s=GIT_TIMEOUT_S, error=GitContextError).stdout


def repo_root(start: str | os.PathLike[str] = ".") -> Path:
    """The top folder of the work tree that contains ``start``, or ContextError."""
    folder = Path(start)
    if not folder.is_dir():
        folder = folder.parent
    try:
        out = run_git(folder, "rev-parse", "--show-toplevel")
    except ContextError:
        raise ContextError(f"{os.fspath(start)!r} is not inside a git repository; run dgcode in one "
                           "(or `git init` first)") from None
    return Path(os.path.realpath(out.decode("utf-8").strip()))


def split_z(output: bytes) -> list[str]:
    """The NUL-separated names of a ``-z`` command, decoded (undecodable bytes escaped)."""
    return [name.decode("utf-8", "surrogateescape") for name in output.split(b"\0") if name]


def list_files(root: str | os.PathLike[str]) -> list[str]:
    """Tracked files plus untracked files that .gitignore does not exclude, repo-relative, sorted."""
    out = run_git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    return sorted(set(split_z(out)))
