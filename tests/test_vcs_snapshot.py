"""Snapshots record staged, unstaged, untracked and intent-to-add work under a private ref, touching nothing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import dirty_repo, git_shim, init_repo, real_git, real_git_bytes, repo_state  # noqa: E402, F401

from dgcode.vcs.snapshot import (  # noqa: E402
    SNAPSHOT_REF_PREFIX,
    SnapshotError,
    list_snapshots,
    locate_repository,
    take_snapshot,
)


def show(repo: Path, spec: str) -> bytes:
    return real_git_bytes(repo, "show", spec)


def test_snapshot_records_every_kind_of_uncommitted_work(tmp_path: Path) -> None:
    repo = dirty_repo(tmp_path / "repo")
    before = repo_state(repo)
    index_bytes = (repo / ".git" / "index").read_bytes()
    snapshot = take_snapshot(repo)
    assert snapshot.taken and snapshot.ref.startswith(SNAPSHOT_REF_PREFIX)
    assert real_git(repo, "rev-parse", snapshot.ref).strip() == snapshot.commit
    # the working tree as it is on disk, untracked and intent-to-add files included, ignored files not
    assert show(repo, f"{snapshot.ref}:staged.py") == b"def staged():\n    return 3\n"
    assert show(repo, f"{snapshot.ref}:unstaged.py") == b"def unstaged():\r\n    return 2\r\n"
    assert show(repo, f"{snapshot.ref}:notes/untracked.txt") == b"my untracked notes\n"
    assert show(repo, f"{snapshot.ref}:ita.py") == b"ITA = 1\n"
    assert "debug.log" not in real_git(repo, "ls-tree", "-r", "--name-only", snapshot.ref)
    assert real_git(repo, "ls-tree", snapshot.ref, "tool.sh").startswith("100755 ")
    # second parent: the index (the staged version, not the unstaged one); first parent: HEAD
    assert show(repo, f"{snapshot.ref}^2:staged.py") == b"def staged():\n    return 2\n"
    assert show(repo, f"{snapshot.ref}^2:unstaged.py") == b"def unstaged():\r\n    return 1\r\n"
    assert real_git(repo, "rev-parse", f"{snapshot.ref}^1").strip() == real_git(repo, "rev-parse", "HEAD").strip()
    assert snapshot.untracked == ("notes/untracked.txt",)
    # nothing the user has was touched: not the tree, not the index file (byte for byte), not the branches
    assert repo_state(repo) == before
    assert (repo / ".git" / "index").read_bytes() == index_bytes
    assert real_git(repo, "stash", "list") == ""


def test_snapshot_from_a_subfolder_covers_the_whole_tree(tmp_path: Path) -> None:
    repo = dirty_repo(tmp_path / "repo")
    snapshot = take_snapshot(repo / "notes")
    assert show(repo, f"{snapshot.ref}:unstaged.py") == b"def unstaged():\r\n    return 2\r\n"


def test_unborn_branch_and_no_identity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    repo = init_repo(tmp_path / "repo")
    (repo / "first.py").write_bytes(b"x = 1\n")
    real_git(repo, "add", "first.py")
    (repo / "first.py").write_bytes(b"x = 2\n")
    (repo / "loose.txt").write_bytes(b"loose\n")
    snapshot = take_snapshot(repo)
    assert show(repo, f"{snapshot.ref}:first.py") == b"x = 2\n"
    assert show(repo, f"{snapshot.ref}^1:first.py") == b"x = 1\n"  # the index commit is the only parent
    assert show(repo, f"{snapshot.ref}:loose.txt") == b"loose\n"
    assert real_git(repo, "status", "--porcelain") == "AM first.py\n?? loose.txt\n"


def test_large_untracked_files_are_named_not_captured(tmp_path: Path) -> None:
    repo = dirty_repo(tmp_path / "repo")
    (repo / "big.bin").write_bytes(b"x" * 2000)
    snapshot = take_snapshot(repo, max_untracked_bytes=1000)
    assert "big.bin" not in real_git(repo, "ls-tree", "-r", "--name-only", snapshot.ref)
    assert any(entry.startswith("big.bin (2,000 bytes") for entry in snapshot.skipped)
    assert "big.bin" in snapshot.note


def test_old_snapshots_are_pruned(tmp_path: Path) -> None:
    repo = dirty_repo(tmp_path / "repo")
    refs = [take_snapshot(repo, keep=3).ref for _ in range(5)]
    assert len(set(refs)) == 5
    assert list_snapshots(repo) == sorted(refs)[-3:] == refs[-3:]


def test_outside_git_no_snapshot_and_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.py").write_bytes(b"a\n")
    snapshot = take_snapshot(folder)
    assert not snapshot.taken and snapshot.commit is None
    assert "not in a git repository: no snapshot taken" in snapshot.note
    assert list_snapshots(folder) == []
    assert sorted(os.listdir(folder)) == ["a.py"]


def test_a_broken_repository_raises_instead_of_pretending(tmp_path: Path) -> None:
    repo = dirty_repo(tmp_path / "repo")
    (repo / ".git" / "HEAD").write_bytes(b"garbage\n")
    with pytest.raises(SnapshotError):
        take_snapshot(repo)


def test_locate_repository_reports_top_and_git_dir(tmp_path: Path) -> None:
    repo = dirty_repo(tmp_path / "repo")
    found = locate_repository(repo / "notes")
    assert found is not None
    assert found.top == Path(os.path.realpath(repo))
    assert found.git_dir == Path(os.path.realpath(repo / ".git"))
    assert locate_repository(tmp_path) is None
