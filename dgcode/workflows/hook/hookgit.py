"""git for the commit hook: the commit's own index, literal pathspecs, no pager, no optional locks.

Inside ``git commit`` the hook must read the index *that commit* is using:
git passes it in ``GIT_INDEX_FILE`` (``.git/index``, or a temporary index for
``git commit -a`` and ``git commit -- PATHS``).  ``dgcode.context.gitcli``
drops that variable on purpose (a hook's environment must not redirect
dgcode's ordinary reads); this runner keeps it, made absolute, so ``git diff``
compares the working tree with what is about to be committed.

Only query commands and ``git apply`` / ``merge-file`` style commands that
write nothing into the index are run through it; it never stages anything
(RELIABILITY #2).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT_TIMEOUT_S = 60
GIT_CONFIG = ("-c", "core.quotePath=false", "-c", "color.ui=false", "-c", "core.pager=cat",
              "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false")


class HookGitError(Exception):
    """A git command failed or could not run; ``str()`` is for the user."""


def hook_environment(base: dict[str, str] | None = None, cwd: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The environment git runs with: the caller's, GIT_INDEX_FILE made absolute, no prompts or pagers."""
    env = dict(os.environ if base is None else base)
    index = env.get("GIT_INDEX_FILE")
    if index and not os.path.isabs(index):
        env["GIT_INDEX_FILE"] = os.path.join(os.fspath(cwd) if cwd else os.getcwd(), index)
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0", LC_ALL="C", GIT_PAGER="cat",
               GIT_LITERAL_PATHSPECS="1")
    return env


def absolutize_index_variable(cwd: str | os.PathLike[str] | None = None) -> None:
    """Make ``GIT_INDEX_FILE`` absolute in this process, so later work in other folders reads the same index."""
    fixed = hook_environment(cwd=cwd).get("GIT_INDEX_FILE")
    if fixed:
        os.environ["GIT_INDEX_FILE"] = fixed


def git(root: str | os.PathLike[str], *args: str, stdin: bytes | None = None,
        ok_codes: tuple[int, ...] = (0,)) -> bytes:
    """Run ``git args`` in ``root``; its stdout, or HookGitError naming the command."""
    return git_run(root, *args, stdin=stdin, ok_codes=ok_codes).stdout


def git_run(root: str | os.PathLike[str], *args: str, stdin: bytes | None = None,
            ok_codes: tuple[int, ...] | None = (0,)) -> subprocess.CompletedProcess[bytes]:
    """Run ``git args`` in ``root``; the finished process (HookGitError when the exit status is not in ok_codes)."""
    try:
        done = subprocess.run(["git", *GIT_CONFIG, *args], cwd=root, input=stdin, capture_output=True,
                              env=hook_environment(), timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise HookGitError("git is not installed or not on PATH") from None
    except subprocess.TimeoutExpired:
        raise HookGitError(f"`git {' '.join(args)}` took over {GIT_TIMEOUT_S} s; gave up") from None
    if ok_codes is not None and done.returncode not in ok_codes:
        message = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise HookGitError(f"`git {' '.join(args)}` failed: {message}")
    return done


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
