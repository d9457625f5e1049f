"""Snapshots of uncommitted work: staged, unstaged and untracked files kept under a private ref.

Before dgcode writes into a git working tree it records everything a person
could lose (RELIABILITY #1) as two commits, shaped like a stash entry:

- the *index commit* ``I``: the tree of the index as it is (staged changes;
  intent-to-add entries are not content yet, so they are left out, as git's
  own ``write-tree`` does), parent ``HEAD``;
- the *snapshot commit* ``W``: the tree of the working tree (tracked files as
  they are on disk, intent-to-add files with their content, and untracked
  files that are not ignored), parents ``HEAD`` and ``I``.

``W`` is stored under ``refs/dgcode/snapshots/<UTC time>``; the newest
``keep`` are kept and older ones pruned.  ``git show <ref>:<path>`` gives a
file back; ``git diff <ref>`` shows what changed since.

Everything is built in a *copy* of the index (``GIT_INDEX_FILE``), so the
repository's index, working tree, HEAD and branches are never touched.  (``git
stash create`` would also refresh and rewrite the real index, and git 2.39's
refuses a tree with an intent-to-add entry: "Entry not uptodate. Cannot merge.")
No destructive command is ever run: no ``stash push``, ``checkout``,
``reset``, ``clean`` or branch switch (RELIABILITY #2).  Every git call goes
through ``dgcode.vcs.git`` and so has a time limit: a hung git cannot keep the
repository lock held (RELIABILITY #17).

Outside a git repository nothing is taken and ``Snapshot.note`` says so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from dgcode.vcs.git import GitError, GitResult, run

SNAPSHOT_REF_PREFIX = "refs/dgcode/snapshots/"
DEFAULT_KEEP = 20
"""How many snapshot refs to keep; older ones are pruned after each new one."""
DEFAULT_MAX_UNTRACKED_BYTES = 50 * 1024 * 1024
"""Untracked files larger than this are left out of a snapshot (and named in its note)."""
SNAPSHOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "dgcode",
    "GIT_AUTHOR_EMAIL": "dgcode@localhost",
    "GIT_COMMITTER_NAME": "dgcode",
    "GIT_COMMITTER_EMAIL": "dgcode@localhost",
}
"""Snapshot commits are private; a fixed identity means they work without user.name set."""
NOT_A_REPOSITORY = "not a git repository"


class SnapshotError(GitError):
    """A snapshot could not be taken in a git repository; ``str()`` is for the user."""

    NOT_FOUND = "cannot run git: No such file or directory"


@dataclass(frozen=True)
class GitRepository:
    """Where a working tree lives: its top folder, its (per-worktree) git folder, its index file."""

    top: Path
    git_dir: Path
    index_file: Path


@dataclass(frozen=True)
class Snapshot:
    """The result of ``take_snapshot``: a ref and commit, or None with a note saying why."""

    ref: str | None
    commit: str | None
    note: str
    untracked: tuple[str, ...] = ()
    """Untracked files captured, relative to the top of the working tree."""
    skipped: tuple[str, ...] = ()
    """Untracked entries left out (too large, nested repositories), with the reason."""

    @property
    def taken(self) -> bool:
        return self.ref is not None

    def to_json(self) -> dict[str, object]:
        return {
            "ref": self.ref,
            "commit": self.commit,
            "note": self.note,
            "untracked": list(self.untracked),
            "skipped": list(self.skipped),
        }


def run_git(
    args: list[str],
    cwd: str | os.PathLike[str],
    *,
    env: dict[str, str] | None = None,
    input_bytes: bytes | None = None,
    index_file: str | os.PathLike[str] | None = None,
) -> GitResult:
    """Run ``git args`` in ``cwd`` and return the finished command (never raises for a git failure).

    The caller's GIT_DIR / GIT_INDEX_FILE are kept (a snapshot inside the
    commit hook reads the commit's index); ``index_file`` replaces the index.
    Raises SnapshotError when git cannot be started at all or runs past the
    time limit of ``dgcode.vcs.git``.
    """
    return run(cwd, *args, stdin=input_bytes, ok_codes=None, env=env, inherit_redirects=True,
               index_file=index_file, error=SnapshotError)


def _checked(result: GitResult, what: str) -> str:
    """The stripped stdout of a git run, or SnapshotError naming ``what`` failed."""
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", "replace").strip() or f"exit status {result.returncode}"
        raise SnapshotError(f"could not {what}: {detail}")
    return result.stdout.decode("utf-8", "surrogateescape").strip()


def _has_git_entry_above(folder: Path) -> bool:
    """Whether ``folder`` or a folder above it has a ``.git`` entry git could not use (or git is missing)."""
    return any((candidate / ".git").exists() for candidate in (folder, *folder.parents))


def locate_repository(root: str | os.PathLike[str]) -> GitRepository | None:
    """The git working tree containing ``root``, or None when ``root`` is not in one.

    Raises SnapshotError when it is (or seems to be) a repository that git
    cannot work with: git missing, a bare repository, ``safe.directory``.
    """
    folder = Path(os.path.realpath(root))
    try:
        result = run_git(["rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-path", "index"], folder)
    except SnapshotError as error:
        if error.timed_out:
            raise
        if _has_git_entry_above(folder):
            message = f"{folder} is in a git repository but {error}; not writing without a snapshot"
            raise SnapshotError(message) from None
        return None
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        if NOT_A_REPOSITORY in message.lower() and not _has_git_entry_above(folder):
            return None
        raise SnapshotError(f"git cannot work in {folder}: {message or 'rev-parse failed'}")
    lines = result.stdout.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) != 3:
        raise SnapshotError(f"unexpected output from git rev-parse in {folder}: {lines!r}")
    top, git_dir, index = lines
    index_file = Path(os.environ["GIT_INDEX_FILE"]) if os.environ.get("GIT_INDEX_FILE") else Path(index)
    if not index_file.is_absolute():
        index_file = folder / index_file
    return GitRepository(Path(os.path.realpath(top)), Path(os.path.realpath(git_dir)), index_file)


def _untracked_files(repo: GitRepository, max_bytes: int) -> tuple[list[str], list[str]]:
    """Untracked, not ignored files to capture, and entries left out with the reason."""
    listed = _checked(
        run_git(["ls-files", "--others", "--exclude-standard", "-z"], repo.top), "list untracked files"
    )
    captured, skipped = [], []
    for name in filter(None, listed.split("\0")):
        if name.endswith("/"):
            skipped.append(f"{name} (a nested git repository)")
            continue
        try:
            size = os.lstat(repo.top / name).st_size
        except OSError:
            continue  # gone since listing
        if size > max_bytes:
            skipped.append(f"{name} ({size:,} bytes, over the {max_bytes:,}-byte snapshot limit)")
        else:
            captured.append(name)
    return captured, skipped


def _head_commit(repo: GitRepository) -> str | None:
    """The commit HEAD points at, or None on an unborn branch."""
    result = run_git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], repo.top)
    return result.stdout.decode("ascii").strip() if result.returncode == 0 else None


def _commit_tree(repo: GitRepository, tree: str, parents: list[str], message: str) -> str:
    parent_args = [arg for parent in parents for arg in ("-p", parent)]
    result = run_git(
        ["commit-tree", tree, *parent_args], repo.top, env=SNAPSHOT_IDENTITY, input_bytes=message.encode("utf-8")
    )
    return _checked(result, "write the snapshot commit")


def _new_ref_name(now: float) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{SNAPSHOT_REF_PREFIX}{stamp}.{int(now * 1_000_000) % 1_000_000:06d}Z"


def _store_ref(repo: GitRepository, commit: str, now: float) -> str:
    """Create a new snapshot ref for ``commit`` (never overwriting one); returns its name."""
    base = _new_ref_name(now)
    for attempt in range(100):
        ref = base if attempt == 0 else f"{base}-{attempt}"
        result = run_git(["update-ref", "-m", "dgcode snapshot", ref, commit, ""], repo.top)
        if result.returncode == 0:
            return ref
    raise SnapshotError(f"could not create a snapshot ref near {base}: {result.stderr.decode('utf-8', 'replace')}")


def _snapshot_refs(repo: GitRepository) -> list[str]:
    listed = _checked(
        run_git(["for-each-ref", "--format=%(refname)", SNAPSHOT_REF_PREFIX], repo.top), "list snapshots"
    )
    return sorted(filter(None, listed.splitlines()))


def _prune(repo: GitRepository, keep: int) -> list[str]:
    refs = _snapshot_refs(repo)
    doomed = refs[: max(0, len(refs) - max(keep, 1))]
    for ref in doomed:
        _checked(run_git(["update-ref", "-d", ref], repo.top), f"delete old snapshot {ref}")
    return doomed


def list_snapshots(root: str | os.PathLike[str]) -> list[str]:
    """Snapshot refs of the repository at ``root``, oldest first (empty outside git)."""
    repo = locate_repository(root)
    return [] if repo is None else _snapshot_refs(repo)


def _capture_trees(repo: GitRepository, untracked: list[str]) -> tuple[str, str]:
    """(index tree, working tree tree) built in a copy of the index; the real one is untouched."""
    scratch = tempfile.mkdtemp(prefix="dgcode-snapshot-")
    try:
        temp_index = os.path.join(scratch, "index")
        if repo.index_file.exists():
            shutil.copyfile(repo.index_file, temp_index)
        env = {"GIT_LITERAL_PATHSPECS": "1"}
        index_tree = _checked(run_git(["write-tree"], repo.top, env=env, index_file=temp_index), "record the index")
        _checked(run_git(["add", "--update", "--", "."], repo.top, env=env, index_file=temp_index),
                 "record tracked changes")
        if untracked:
            paths = b"\0".join(name.encode("utf-8", "surrogateescape") for name in untracked) + b"\0"
            args = ["add", "--force", "--pathspec-from-file=-", "--pathspec-file-nul"]
            _checked(run_git(args, repo.top, env=env, input_bytes=paths, index_file=temp_index),
                     "record untracked files")
        work_tree = _checked(run_git(["write-tree"], repo.top, env=env, index_file=temp_index),
                             "record the working tree")
        return index_tree, work_tree
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def take_snapshot(
    root: str | os.PathLike[str],
    *,
    keep: int = DEFAULT_KEEP,
    reason: str = "before applying edits",
    max_untracked_bytes: int = DEFAULT_MAX_UNTRACKED_BYTES,
) -> Snapshot:
    """Record the uncommitted work of the repository at ``root`` under a new private ref.

    Returns a Snapshot without a ref (and a note) outside git; raises
    SnapshotError when a repository's state cannot be recorded, so callers
    can refuse to write.
    """
    repo = locate_repository(root)
    if repo is None:
        return Snapshot(None, None, f"{os.path.realpath(root)} is not in a git repository: no snapshot taken")
    untracked, skipped = _untracked_files(repo, max_untracked_bytes)
    index_tree, work_tree = _capture_trees(repo, untracked)
    head = _head_commit(repo)
    head_parents = [head] if head else []
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
    index_commit = _commit_tree(repo, index_tree, head_parents, f"dgcode index at {stamp}\n")
    details = [f"untracked: {name}" for name in untracked] + [f"skipped: {entry}" for entry in skipped]
    message = f"dgcode snapshot {reason} at {stamp}\n\n" + "\n".join(details) + ("\n" if details else "")
    commit = _commit_tree(repo, work_tree, [*head_parents, index_commit], message)
    ref = _store_ref(repo, commit, now)
    _prune(repo, keep)
    note = f"uncommitted work saved as {ref} (see it with `git show --stat {ref}`)"
    if skipped:
        note += f"; not captured: {', '.join(skipped)}"
    return Snapshot(ref, commit, note, tuple(untracked), tuple(skipped))
