"""The one git runner: every git command dgcode runs goes through ``run`` here, under one set of rules.

- **The git on PATH.** Arguments go as a list (no shell) to the ``git`` found
  through PATH, never a fixed path, so a wrapper there (the test suite's
  blocking shim) sees every call.
- **Always bounded.** Each call has a time limit (``DEFAULT_TIMEOUT_S``,
  overridable per call).  git runs in its own process group; when the limit
  passes the whole group is killed (SIGKILL) and reaped, so a hung git, or a
  hook, helper or shim it started, cannot keep holding the repository lock
  (RELIABILITY #17) and leaves no orphan behind.  The same happens when the
  caller is interrupted (Ctrl-C, SIGTERM turned into an exception).
- **One set of settings** (``GIT_CONFIG`` and ``GIT_ENVIRONMENT``, the union of
  what dgcode's three runners used to set), so the user's own git config
  cannot change what dgcode reads or applies:
  ``core.quotePath=false`` (paths come back as their bytes, not C-quoted),
  ``color.ui=false`` (no escape codes even with ``color.ui=always``),
  ``core.pager=cat`` and ``GIT_PAGER=cat`` (never a pager, even without a
  terminal check), ``diff.noprefix`` / ``diff.mnemonicPrefix`` /
  ``diff.relative`` off (diffs keep ``a/`` ``b/`` prefixes and top-relative
  paths, so ``git apply`` and the model read them the same way everywhere),
  ``GIT_OPTIONAL_LOCKS=0`` (a read never takes the index lock another git
  may need), ``GIT_TERMINAL_PROMPT=0`` (never wait for a password nobody
  types) and ``LC_ALL=C`` (messages in English, so matching "not a git
  repository" works in every locale).  ``GIT_LITERAL_PATHSPECS`` is not one of
  them: the context reads use pathspec magic (``:(exclude)``); callers that
  pass file names as pathspecs set it per call through ``env``.
- **Which repository and index.** By default the variables that redirect git
  (``GIT_DIR``, ``GIT_WORK_TREE``, ``GIT_INDEX_FILE``) are dropped, so a
  hook's environment cannot redirect an ordinary read.  ``inherit_redirects``
  keeps them (the commit hook, snapshots taken inside it), and ``index_file``
  names the index explicitly (made absolute against this process's folder,
  as git itself would read a relative one from where the hook started).
- **Bytes out, one error type.** ``GitResult.stdout`` is the raw bytes.  A
  failure raises ``GitError`` (or the subclass the caller names in
  ``error``) carrying the command, its exit status and stderr; its message is
  for the user.

GitPython is deliberately not used for the runner: its ``Git.execute`` always
starts from this process's environment and can only add variables (so the
redirect variables could not be dropped), falls back to the current folder
when the requested one is not accessible, and raises ImportError at import
when git is missing.  Repository discovery, refs and config are read by git
itself (``rev-parse``, ``for-each-ref``), so safe.directory, worktrees and
every ref backend follow git's own rules.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_TIMEOUT_S = 60.0
"""Seconds a git command may run before its process group is killed; read at each call."""
GIT_CONFIG = ("-c", "core.quotePath=false", "-c", "color.ui=false", "-c", "core.pager=cat",
              "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false")
GIT_ENVIRONMENT = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_PAGER": "cat"}
REDIRECT_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
_REAP_S = 5.0
"""After a kill, how long to wait for the pipes to close (a grandchild that left the group may hold them)."""


class GitError(Exception):
    """A git command failed, timed out or could not run; ``str()`` is for the user.

    ``command`` is the git arguments (without ``GIT_CONFIG``), ``status`` the
    exit status (None when git did not finish), ``stderr`` what it wrote.
    """

    NOT_FOUND = "git is not installed or not on PATH"
    """The message when git cannot be started; a subclass may word it for its own users."""

    def __init__(self, message: str, *, command: tuple[str, ...] = (), status: int | None = None,
                 stderr: str = "", timed_out: bool = False) -> None:
        super().__init__(message)
        self.command = command
        self.status = status
        self.stderr = stderr
        self.timed_out = timed_out


@dataclass(frozen=True)
class GitResult:
    """A finished git command: its arguments, exit status and raw output."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes


def environment(*, env: Mapping[str, str] | None = None, inherit_redirects: bool = False,
                index_file: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The environment one git call runs with (see the module docstring)."""
    full = dict(os.environ)
    if not inherit_redirects:
        for name in REDIRECT_VARIABLES:
            full.pop(name, None)
    full.update(GIT_ENVIRONMENT)
    if index_file is not None:
        index = os.fspath(index_file)
        full["GIT_INDEX_FILE"] = index if os.path.isabs(index) else os.path.join(os.getcwd(), index)
    if env:
        full.update(env)
    return full


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Kill git's whole process group and reap git, never blocking on pipes a runaway grandchild holds."""
    _kill_group(process)
    try:
        process.communicate(timeout=_REAP_S)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    process.wait()


def run(cwd: str | os.PathLike[str], *args: str, stdin: bytes | None = None,
        ok_codes: tuple[int, ...] | None = (0,), timeout_s: float | None = None,
        env: Mapping[str, str] | None = None, inherit_redirects: bool = False,
        index_file: str | os.PathLike[str] | None = None, error: type[GitError] = GitError) -> GitResult:
    """Run ``git args`` in ``cwd`` and return the finished command.

    Raises ``error`` (a GitError) when git cannot start, runs past
    ``timeout_s`` (default ``DEFAULT_TIMEOUT_S``), or exits with a status
    not in ``ok_codes`` (``None``: any status is returned).
    """
    limit = DEFAULT_TIMEOUT_S if timeout_s is None else timeout_s
    shown = f"`git {' '.join(args)}`"
    if not os.path.isdir(cwd):
        raise error(f"cannot run {shown} in {os.fspath(cwd)}: no such folder", command=args)
    try:
        process = subprocess.Popen(
            ["git", *GIT_CONFIG, *args], cwd=cwd,
            env=environment(env=env, inherit_redirects=inherit_redirects, index_file=index_file),
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
    except FileNotFoundError:
        raise error(error.NOT_FOUND, command=args) from None
    except OSError as failure:
        raise error(f"cannot run git: {failure.strerror or failure}", command=args) from None
    try:
        stdout, stderr = process.communicate(stdin, timeout=limit)
    except subprocess.TimeoutExpired:
        _stop(process)
        raise error(f"{shown} took over {limit:g} s; gave up", command=args,
                    timed_out=True) from None
    except BaseException:
        _stop(process)
        raise
    if ok_codes is not None and process.returncode not in ok_codes:
        text = stderr.decode("utf-8", "replace").strip()
        raise error(f"{shown} failed: {text or f'exit status {process.returncode}'}", command=args,
                    status=process.returncode, stderr=text)
    return GitResult(args, process.returncode, stdout, stderr)

