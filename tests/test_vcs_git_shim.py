"""The git shim really blocks destructive calls, lets the rest through, and is what dgcode's git calls reach."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import BLOCKED_EXIT, dirty_repo, git_shim, make_git_shim, repo_state  # noqa: E402, F401

from dgcode.vcs.snapshot import take_snapshot  # noqa: E402

DESTRUCTIVE = [
    ["reset", "--hard"],
    ["reset", "--hard", "HEAD"],
    ["-C", ".", "reset", "--hard"],
    ["-c", "core.pager=cat", "reset", "--hard"],
    ["checkout", "--", "."],
    ["checkout", "main"],
    ["switch", "main"],
    ["restore", "."],
    ["clean", "-fdx"],
    ["stash"],
    ["stash", "push"],
    ["stash", "-u"],
    ["stash", "pop"],
    ["add", "-A"],
    ["rm", "--cached", "clean.py"],
    ["update-ref", "refs/heads/main", "HEAD~0"],
    ["update-ref", "-d", "refs/heads/main"],
    ["read-tree", "-u", "--reset", "HEAD"],
]


@pytest.mark.parametrize("args", DESTRUCTIVE, ids=lambda args: " ".join(args))
def test_shim_blocks_destructive_calls_and_changes_nothing(tmp_path: Path, args: list[str]) -> None:
    repo = dirty_repo(tmp_path / "repo")
    shim = make_git_shim(tmp_path / "own-shim")  # its own log, so the autouse fixture's log stays clean
    before = repo_state(repo)
    env = {key: value for key, value in os.environ.items() if key != "GIT_INDEX_FILE"}
    result = subprocess.run([str(shim.executable), *args], cwd=repo, env=env, capture_output=True, check=False)
    assert result.returncode == BLOCKED_EXIT, result.stderr
    assert b"blocked destructive call" in result.stderr
    assert len(shim.blocked()) == 1
    assert shim.calls()[0].args == tuple(args)
    assert repo_state(repo) == before


@pytest.mark.parametrize("args", [["status", "--porcelain"], ["stash", "list"],
                                  ["update-ref", "-m", "x", "refs/dgcode/snapshots/t", "HEAD", ""],
                                  ["rev-parse", "HEAD"]], ids=lambda args: " ".join(args))
def test_shim_lets_harmless_calls_through(tmp_path: Path, args: list[str]) -> None:
    repo = dirty_repo(tmp_path / "repo")
    shim = make_git_shim(tmp_path / "own-shim")
    result = subprocess.run([str(shim.executable), *args], cwd=repo, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr
    assert shim.blocked() == []


def test_add_is_allowed_on_a_private_index_only(tmp_path: Path) -> None:
    repo = dirty_repo(tmp_path / "repo")
    shim = make_git_shim(tmp_path / "own-shim")
    private = {**os.environ, "GIT_INDEX_FILE": str(tmp_path / "private-index")}
    assert subprocess.run([str(shim.executable), "add", "-A"], cwd=repo, env=private, check=False).returncode == 0
    assert shim.calls()[0].private_index
    assert shim.blocked() == []


def test_dgcode_git_calls_go_through_the_shim(tmp_path: Path, git_shim) -> None:  # noqa: F811
    repo = dirty_repo(tmp_path / "repo")
    take_snapshot(repo)
    subcommands = git_shim.subcommands()
    assert "write-tree" in subcommands and "commit-tree" in subcommands and "update-ref" in subcommands
    adds = [call for call in git_shim.calls() if "add" in call.args]
    assert adds and all(call.private_index for call in adds)
