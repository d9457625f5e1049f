"""The git command line, run read-only: find the repository, list its files, run a query command.

dgcode talks to git through the plain ``git`` program (no GitPython here).
Every call passes arguments as a list (no shell), disables the pager, colour,
external diff drivers and path quoting, and sets ``GIT_OPTIONAL_LOCKS=0`` so
a read never takes the index lock another git process may need.  Only query
commands are run from this package; it never changes the repository.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from dgcode.context.errors import ContextError

GIT_TIMEOUT_S = 30
GIT_CONFIG = ("-c", "core.quotePath=false", "-c", "color.ui=false", "-c", "core.pager=cat")


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", LC_ALL="C", GIT_PAGER="cat")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):  # a hook's environment must not redirect us
        env.pop(name, None)
    return env


def run_git(root: str | os.PathLike[str], *args: str, stdin: bytes | None = None,
            ok_codes: tuple[int, ...] = (0,)) -> bytes:
    """Run ``git args`` in ``root`` and return its stdout; raise ContextError on failure."""
    command = ["git", *GIT_CONFIG, *args]
    try:
        done = subprocess.run(command, cwd=root, input=stdin, capture_output=True, env=_environment(),
                              timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise ContextError("git is not installed or not on PATH; dgcode needs it to read the repository") from None
    except subprocess.TimeoutExpired:
        raise ContextError(f"`git {' '.join(args)}` took over {GIT_TIMEOUT_S} s; gave up") from None
    if done.returncode not in ok_codes:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise ContextError(f"`git {' '.join(args)}` failed: {message}")
    return done.stdout


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
