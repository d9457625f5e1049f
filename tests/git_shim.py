"""Git for tests: a `git` shim on PATH that logs every call dgcode makes and blocks destructive ones.

Test modules that touch git import the autouse fixture ``git_shim``::

    from git_shim import git_shim, real_git  # noqa: F401  (fixture)

While a test runs, a ``git`` found through PATH is the shim: it appends the
call (arguments, and whether ``GIT_INDEX_FILE`` pointed at a private index)
to a log, then refuses (exit 97, nothing run) anything that can lose work or
move the user's branch (RELIABILITY #2): ``reset``, ``checkout``,
``switch``, ``restore``, ``clean``, ``stash`` other than ``create`` / ``list``
/ ``show``, ``rm``, ``commit``, ``merge``, ``rebase``, ``pull``, ``am``,
``cherry-pick``, ``revert``, ``checkout-index``, ``read-tree -u/--reset``,
``update-ref`` of a ref outside ``refs/dgcode/``, and ``add`` /
``update-index`` / ``mv`` on the real index.  At teardown the test fails if
anything was blocked.  Tests set repositories up with ``real_git``, which
runs the real binary by its full path and is not logged.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REAL_GIT = shutil.which("git") or "/usr/bin/git"
BLOCKED_EXIT = 97
TEST_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Person",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test Person",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}

SHIM_SCRIPT = r"""#!/bin/bash
log=__LOG__
real=__REAL__
{ printf 'index=%s\0' "${GIT_INDEX_FILE:+private}"; printf '%s\0' "$@"; printf '\1'; } >> "$log"
i=1
sub=""
while [ "$i" -le "$#" ]; do
  a="${!i}"
  case "$a" in
    -C|-c|--git-dir|--work-tree|--namespace|--config-env) i=$((i + 2)) ;;
    -*) i=$((i + 1)) ;;
    *) sub="$a"; break ;;
  esac
done
rest=("${@:$((i + 1))}")
why=""
case "$sub" in
  reset|checkout|switch|restore|clean|rm|commit|merge|rebase|pull|am|cherry-pick|revert|checkout-index)
    why="$sub" ;;
  stash)
    case "${rest[0]:-}" in create|list|show) ;; *) why="stash ${rest[0]:-(push)}" ;; esac ;;
  read-tree)
    for a in "${rest[@]}"; do case "$a" in -u|--reset|-m) why="read-tree $a" ;; esac; done ;;
  add|update-index|mv)
    [ -z "${GIT_INDEX_FILE:-}" ] && why="$sub on the real index" ;;
  update-ref)
    skip=0; ref=""
    for a in "${rest[@]}"; do
      if [ "$skip" = 1 ]; then skip=0; continue; fi
      case "$a" in -m) skip=1 ;; -*) ;; *) ref="$a"; break ;; esac
    done
    case "$ref" in refs/dgcode/*) ;; *) why="update-ref $ref" ;; esac ;;
esac
if [ -n "$why" ]; then
  { printf 'BLOCKED\0%s\0' "$why"; printf '\1'; } >> "$log"
  echo "git shim: blocked destructive call: git $*" >&2
  exit 97
fi
exec "$real" "$@"
"""


@dataclass(frozen=True)
class GitCall:
    """One logged call: its arguments, and whether it used a private index."""

    args: tuple[str, ...]
    private_index: bool


@dataclass(frozen=True)
class GitShim:
    folder: Path
    log: Path

    @property
    def executable(self) -> Path:
        return self.folder / "git"

    def _records(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        data = self.log.read_bytes().decode("utf-8", "surrogateescape")
        return [record.split("\0")[:-1] for record in data.split("\1") if record]

    def calls(self) -> list[GitCall]:
        return [
            GitCall(tuple(fields[1:]), fields[0] == "index=private")
            for fields in self._records()
            if fields and fields[0].startswith("index=")
        ]

    def blocked(self) -> list[str]:
        return [fields[1] for fields in self._records() if fields and fields[0] == "BLOCKED"]

    def subcommands(self) -> list[str]:
        """The git subcommand of each call, after global options."""
        found = []
        for call in self.calls():
            args = list(call.args)
            while args and args[0].startswith("-"):
                args = args[2:] if args[0] in ("-C", "-c") else args[1:]
            found.append(args[0] if args else "")
        return found


def make_git_shim(folder: Path) -> GitShim:
    """Write the shim into ``folder`` (logging to ``folder/git.log``); PATH is not changed."""
    folder.mkdir(parents=True, exist_ok=True)
    shim = GitShim(folder, folder / "git.log")
    script = SHIM_SCRIPT.replace("__LOG__", _bash_quote(str(shim.log))).replace("__REAL__", _bash_quote(REAL_GIT))
    shim.executable.write_text(script)
    shim.executable.chmod(shim.executable.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return shim


def _bash_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture(autouse=True)
def git_shim(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> GitShim:
    """Put the shim first on PATH, isolate git from the user's config; fail the test if anything was blocked."""
    shim = make_git_shim(tmp_path_factory.mktemp("git-shim"))
    monkeypatch.setenv("PATH", f"{shim.folder}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CEILING_DIRECTORIES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in TEST_IDENTITY.items():
        monkeypatch.setenv(name, value)
    yield shim
    assert shim.blocked() == [], f"dgcode ran destructive git commands: {shim.blocked()}"


def real_git(repo: Path, *args: str, input_bytes: bytes | None = None) -> str:
    """Run the real git (not the shim) in ``repo``; returns stdout, raising on failure."""
    result = subprocess.run([REAL_GIT, *args], cwd=repo, input=input_bytes, capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode("utf-8", "surrogateescape")


def real_git_bytes(repo: Path, *args: str) -> bytes:
    return subprocess.run([REAL_GIT, *args], cwd=repo, capture_output=True, check=True).stdout


def init_repo(path: Path) -> Path:
    """An empty repository with a ``main`` branch."""
    path.mkdir(parents=True, exist_ok=True)
    real_git(path, "init", "-q", "-b", "main")
    return path


@dataclass(frozen=True)
class RepoState:
    """What a person could lose: diffs, status, the index file, untracked bytes, refs."""

    diff: bytes
    diff_cached: bytes
    status: bytes
    untracked: dict[str, bytes]
    head: bytes
    branches: bytes


def repo_state(repo: Path) -> RepoState:
    untracked_names = real_git(repo, "ls-files", "--others", "--exclude-standard", "-z").split("\0")
    return RepoState(
        diff=real_git_bytes(repo, "diff", "--binary"),
        diff_cached=real_git_bytes(repo, "diff", "--cached", "--binary"),
        status=real_git_bytes(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all"),
        untracked={name: (repo / name).read_bytes() for name in untracked_names if name},
        head=real_git_bytes(repo, "rev-parse", "HEAD"),
        branches=real_git_bytes(repo, "for-each-ref", "refs/heads", "refs/stash"),
    )


def dirty_repo(path: Path) -> Path:
    """A repository with a commit and every kind of uncommitted work.

    - ``staged.py``: a staged change, then a further unstaged one on top
    - ``unstaged.py``: an unstaged change (CRLF line endings)
    - ``notes/untracked.txt``: untracked
    - ``ita.py``: intent-to-add (``git add -N``)
    - ``clean.py`` and ``tool.sh`` (mode 755): committed, unchanged
    """
    repo = init_repo(path)
    (repo / "staged.py").write_bytes(b"def staged():\n    return 1\n")
    (repo / "unstaged.py").write_bytes(b"def unstaged():\r\n    return 1\r\n")
    (repo / "clean.py").write_bytes(b"def clean():\n    return 1\n")
    (repo / "tool.sh").write_bytes(b"#!/bin/sh\necho 1\n")
    (repo / "tool.sh").chmod(0o755)
    (repo / ".gitignore").write_bytes(b"*.log\n")
    real_git(repo, "add", ".")
    real_git(repo, "commit", "-q", "-m", "base")
    (repo / "staged.py").write_bytes(b"def staged():\n    return 2\n")
    real_git(repo, "add", "staged.py")
    (repo / "staged.py").write_bytes(b"def staged():\n    return 3\n")
    (repo / "unstaged.py").write_bytes(b"def unstaged():\r\n    return 2\r\n")
    (repo / "notes").mkdir()
    (repo / "notes" / "untracked.txt").write_bytes(b"my untracked notes\n")
    (repo / "ita.py").write_bytes(b"ITA = 1\n")
    real_git(repo, "add", "-N", "ita.py")
    (repo / "debug.log").write_bytes(b"ignored\n")
    return repo
