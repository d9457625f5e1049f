"""Install and uninstall dgcode's pre-commit hook script: core.hooksPath respected, a foreign hook kept and chained.

``install`` writes ``<hooks folder>/pre-commit``, a small ``sh`` script that
runs ``python -m dgcode.workflows.hook.run`` (``dgcode hook run``) with the absolute path of
the Python that installed it (so the hook finds the same dgcode whatever PATH a GUI or
IDE gives git).  The hooks folder is ``git rev-parse --git-path hooks``,
which follows ``core.hooksPath``.

A hook that is not dgcode's is never overwritten without ``force``; with
it, the hook is renamed ``pre-commit.dgcode-chained`` and dgcode's script
runs it first (its failure stops the commit as before).  ``uninstall``
removes only dgcode's script (recognised by ``MARKER``) and puts a chained
hook back in place.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from dgcode.edits.atomic import write_atomic
from dgcode.workflows.hook.hookgit import HookGitError, git

HOOK_NAME = "pre-commit"
CHAINED_NAME = "pre-commit.dgcode-chained"
MARKER = "# dgcode-managed-hook"
MISSING_PYTHON_EXIT = {False: 0, True: 1}
"""The script's exit status when the Python it names is gone: fail open unless installed with --strict."""

SCRIPT = """#!/bin/sh
{marker}: written by `dgcode hook install`; `dgcode hook uninstall` removes it.
# Runs the hook that was here before (if any), then dgcode on the staged files.
# Skip it once with `SKIP=dgcode git commit ...` (or `git commit --no-verify`, which skips every hook).
here=$(dirname -- "$0")
if [ -x "$here/{chained}" ]; then
    "$here/{chained}" "$@" || exit $?
fi
python={python}
if [ ! -x "$python" ]; then
    echo "dgcode hook: $python is gone; run \\`dgcode hook install\\` again. The commit was not checked." >&2
    exit {missing_exit}
fi
exec "$python" -m dgcode.workflows.hook.run{flags} "$@"
"""


class HookInstallError(Exception):
    """The hook cannot be installed or removed as asked; ``str()`` says why and what to do."""


@dataclass(frozen=True)
class HookPaths:
    """Where the hook goes: the hooks folder, the script, and the name a chained foreign hook gets."""

    folder: Path

    @property
    def hook(self) -> Path:
        return self.folder / HOOK_NAME

    @property
    def chained(self) -> Path:
        return self.folder / CHAINED_NAME


def hook_paths(root: str | os.PathLike[str]) -> HookPaths:
    """The hooks folder of the repository at ``root`` (``core.hooksPath`` or ``.git/hooks``)."""
    try:
        found = git(root, "rev-parse", "--git-path", "hooks").decode("utf-8", "surrogateescape").strip()
    except HookGitError as error:
        raise HookInstallError(f"{os.fspath(root)} is not in a git repository ({error})") from None
    folder = Path(found) if os.path.isabs(found) else Path(root) / found
    return HookPaths(Path(os.path.abspath(folder)))


def is_dgcode_hook(path: Path) -> bool:
    """Whether ``path`` is a script ``install`` wrote."""
    try:
        with open(path, "rb") as handle:
            return MARKER.encode("ascii") in handle.read(4096)
    except OSError:
        return False


def render_script(python: str, strict: bool) -> str:
    return SCRIPT.format(marker=MARKER, chained=CHAINED_NAME, python=shlex.quote(python),
                         missing_exit=MISSING_PYTHON_EXIT[strict], flags=" --strict" if strict else "")


@dataclass(frozen=True)
class HookChange:
    """What ``install`` or ``uninstall`` did, in words, and where."""

    path: Path
    message: str
    chained: Path | None = None


def install(root: str | os.PathLike[str], *, strict: bool = False, force: bool = False,
            python: str | None = None) -> HookChange:
    """Write dgcode's pre-commit script (see the module docstring); HookInstallError if a foreign hook is in the way."""
    paths = hook_paths(root)
    python = os.path.abspath(python or sys.executable)
    present = os.path.lexists(paths.hook)
    ours = present and is_dgcode_hook(paths.hook)
    chained = None
    if present and not ours:
        if not force:
            raise HookInstallError(
                f"{paths.hook} is a pre-commit hook that dgcode did not write; it was left alone. "
                f"`dgcode hook install --force` keeps it as {CHAINED_NAME} and runs it before dgcode")
        if os.path.lexists(paths.chained):
            raise HookInstallError(f"{paths.hook} is not dgcode's and {paths.chained} already exists; "
                                   "move one of them away first (nothing was changed)")
        os.rename(paths.hook, paths.chained)
        chained = paths.chained
    paths.folder.mkdir(parents=True, exist_ok=True)
    try:
        write_atomic(paths.hook, render_script(python, strict).encode("utf-8"), mode=0o755)
        os.chmod(paths.hook, os.stat(paths.hook).st_mode | 0o111)
    except Exception:
        if chained is not None and not os.path.lexists(paths.hook):
            os.rename(paths.chained, paths.hook)
        raise
    if chained is None and os.path.lexists(paths.chained):
        chained = paths.chained
    what = "updated" if ours else "installed"
    message = f"{what} dgcode's pre-commit hook at {paths.hook}" + (" (strict)" if strict else "")
    if chained is not None:
        message += f"; it runs the existing hook, kept as {chained}, first"
    return HookChange(paths.hook, message, chained)


def uninstall(root: str | os.PathLike[str]) -> HookChange:
    """Remove dgcode's script and put a chained hook back; HookInstallError if the hook there is not dgcode's."""
    paths = hook_paths(root)
    if os.path.lexists(paths.hook) and not is_dgcode_hook(paths.hook):
        raise HookInstallError(f"{paths.hook} is not dgcode's hook; it was left alone")
    removed = os.path.lexists(paths.hook)
    if removed:
        os.unlink(paths.hook)
    if os.path.lexists(paths.chained):
        os.rename(paths.chained, paths.hook)
        return HookChange(paths.hook, ("removed dgcode's pre-commit hook; " if removed else "")
                          + f"the earlier hook is back at {paths.hook}", paths.hook)
    if removed:
        return HookChange(paths.hook, f"removed dgcode's pre-commit hook from {paths.hook}")
    return HookChange(paths.hook, f"no pre-commit hook at {paths.hook}; nothing to remove")
