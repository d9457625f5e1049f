"""The hook with no check command (``fix.cmd``): the staged Python files must compile, and the repair model repairs them.

Real repositories, real ``git commit`` through the installed hook, and the
REAL embedded repair model (it repairs a missing colon reliably).  What is
checked is the staged content (the index), never the working copy; a repair
lands in the working tree, is never staged, and stops the commit; unstaged
work is kept byte for byte.  A broken configured model fails open, and
blocks under ``--strict`` (RELIABILITY #15, #16, #23).  Which model repairs:
a configured repair model is the one loaded, never the embedded one; a
configured full model (a tiny synthetic GGUF) is checked, and one that cannot
run fails open before any model loads; a usable one repairs itself, never the
embedded model (tests/test_hook_full_model.py).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import GitShim, real_git, real_git_bytes
from test_hook_support import (
    HOOK_SUBCOMMANDS,
    base_repo,
    git_commit,
    head,
    install_hook,
    isolated,  # noqa: F401  (autouse: no user config, model or SKIP from the person running the tests)
)

from dgcode.repair.embedded import EMBEDDED_MODEL, embedded_model

pytestmark = pytest.mark.skipif(embedded_model() is None, reason="this install has no embedded repair model")

BASE = b"def f():\n    return 1\n\n\ndef g():\n    return 2\n\n\ndef h():\n    return 3\n"
BROKEN = BASE.replace(b"def f():", b"def f()")
"""The staged change: a missing colon on line 1."""
UNSTAGED_TAIL = BASE.replace(b"return 3\n", b"return 3  # unstaged, kept byte for byte\n")
"""An unstaged change far from line 1 (so it merges cleanly over the repair)."""


def repo_with_hook(tmp_path: Path, *flags: str) -> Path:
    repo = base_repo(tmp_path / "repo", BASE)
    install_hook(repo, *flags)
    return repo


def staged(repo: Path, path: str = "m.py") -> bytes:
    return real_git_bytes(repo, "show", f":{path}")


def only_allowed_git(shim: GitShim) -> None:
    assert set(shim.subcommands()) <= HOOK_SUBCOMMANDS, set(shim.subcommands()) - HOOK_SUBCOMMANDS
    assert shim.blocked() == []


def test_no_config_repairs_a_staged_syntax_error_and_stops_the_commit_keeping_unstaged_work(
        tmp_path: Path, git_shim: GitShim) -> None:
    repo = repo_with_hook(tmp_path)
    (repo / "m.py").write_bytes(BROKEN)
    real_git(repo, "add", "m.py")
    (repo / "m.py").write_bytes(BROKEN.replace(b"return 3\n", b"return 3  # unstaged, kept byte for byte\n"))
    before = head(repo)

    done = git_commit(repo, "broken")

    assert done.returncode == 1, done.stderr
    assert head(repo) == before
    assert "no check command is configured (fix.cmd)" in done.stderr
    assert "m.py:1: expected ':'" in done.stderr
    assert "dgcode modified 1 file: m.py" in done.stderr and "+def f():" in done.stderr
    assert staged(repo) == BROKEN  # never staged
    assert (repo / "m.py").read_bytes() == UNSTAGED_TAIL  # the repair, with the unstaged hunk on top, exactly
    compile((repo / "m.py").read_bytes(), "m.py", "exec")
    only_allowed_git(git_shim)

    real_git(repo, "add", "m.py")
    again = git_commit(repo, "repaired")
    assert again.returncode == 0, again.stderr
    assert "the 1 staged Python file compiles" in again.stderr
    assert real_git_bytes(repo, "show", "HEAD:m.py") == UNSTAGED_TAIL


def test_no_config_commits_a_file_that_compiles_untouched(tmp_path: Path, git_shim: GitShim) -> None:
    repo = repo_with_hook(tmp_path)
    good = BASE.replace(b"return 1", b"return 10")
    (repo / "m.py").write_bytes(good)
    real_git(repo, "add", "m.py")
    (repo / "m.py").write_bytes(good + b"# unstaged\n")
    before = head(repo)

    done = git_commit(repo, "good")

    assert done.returncode == 0, done.stderr
    assert head(repo) != before and real_git_bytes(repo, "show", "HEAD:m.py") == good
    assert (repo / "m.py").read_bytes() == good + b"# unstaged\n"
    assert "the 1 staged Python file compiles." in done.stderr
    assert "loading model" not in done.stderr and "set aside" not in done.stderr
    only_allowed_git(git_shim)


def test_only_the_staged_content_is_checked_an_unstaged_syntax_error_is_not(tmp_path: Path,
                                                                               git_shim: GitShim) -> None:
    repo = repo_with_hook(tmp_path)
    staged_hunk = BASE.replace(b"return 3", b"return 30")
    (repo / "m.py").write_bytes(staged_hunk)
    real_git(repo, "add", "m.py")
    working = staged_hunk.replace(b"def f():", b"def f()")  # the unstaged hunk has the syntax error
    (repo / "m.py").write_bytes(working)

    done = git_commit(repo, "staged hunk only")

    assert done.returncode == 0, done.stderr
    assert real_git_bytes(repo, "show", "HEAD:m.py") == staged_hunk
    assert (repo / "m.py").read_bytes() == working
    assert "the 1 staged Python file compiles." in done.stderr and "loading model" not in done.stderr
    only_allowed_git(git_shim)


def test_a_staged_syntax_error_under_a_good_unstaged_hunk_is_repaired_in_the_staged_content(
        tmp_path: Path, git_shim: GitShim) -> None:
    repo = repo_with_hook(tmp_path)
    (repo / "m.py").write_bytes(BROKEN)
    real_git(repo, "add", "m.py")
    working = BASE.replace(b"return 3", b"return 30")  # the error fixed by hand, but not staged; another hunk
    (repo / "m.py").write_bytes(working)
    before = head(repo)

    done = git_commit(repo, "staged hunk broken")

    assert done.returncode == 1, done.stderr
    assert head(repo) == before and staged(repo) == BROKEN
    assert "m.py:1: expected ':'" in done.stderr and "dgcode modified 1 file: m.py" in done.stderr
    assert (repo / "m.py").read_bytes() == working  # the repair equals the hand fix; the unstaged hunk kept
    only_allowed_git(git_shim)


def test_an_unrepairable_file_is_reported_and_stops_the_commit(tmp_path: Path, git_shim: GitShim) -> None:
    repo = repo_with_hook(tmp_path)
    hopeless = b"\xff\xfe not python, not even UTF-8 \x00\n"
    (repo / "m.py").write_bytes(hopeless)
    real_git(repo, "add", "m.py")
    before = head(repo)

    done = git_commit(repo, "hopeless")

    assert done.returncode == 1, done.stderr
    assert head(repo) == before and (repo / "m.py").read_bytes() == hopeless
    assert "could not repair" in done.stderr and "The commit was stopped" in done.stderr
    only_allowed_git(git_shim)


@pytest.mark.parametrize("strict", [False, True], ids=["fail-open", "strict"])
def test_a_broken_configured_model_fails_open_and_blocks_when_strict(tmp_path: Path, git_shim: GitShim,
                                                                       strict: bool) -> None:
    repo = repo_with_hook(tmp_path, *(["--strict"] if strict else []))
    (repo / "m.py").write_bytes(BROKEN)
    real_git(repo, "add", "m.py")
    (repo / "m.py").write_bytes(UNSTAGED_TAIL.replace(b"def f():", b"def f()"))
    model_file = tmp_path / "broken.gguf"
    model_file.write_bytes(os.urandom(64) + b"garbage, not a GGUF file\n" * 8)
    before = head(repo)

    done = git_commit(repo, "broken model", {"DGCODE_MODEL": str(model_file)})

    assert str(model_file) in done.stderr, done.stderr
    if strict:
        assert done.returncode == 1 and "error:" in done.stderr and head(repo) == before
    else:
        assert done.returncode == 0 and "warning:" in done.stderr and head(repo) != before
        assert real_git_bytes(repo, "show", "HEAD:m.py") == BROKEN  # fail open: committed as staged
    assert (repo / "m.py").read_bytes() == UNSTAGED_TAIL.replace(b"def f():", b"def f()")
    only_allowed_git(git_shim)


def test_an_untrusted_repository_command_is_ignored_and_the_default_check_runs(tmp_path: Path,
                                                                                 git_shim: GitShim) -> None:
    repo = repo_with_hook(tmp_path)
    marker = tmp_path / "ran"
    (repo / ".dgcode.toml").write_text(f'[fix]\ncmd = "touch {marker}"\n')
    (repo / "m.py").write_bytes(BROKEN)
    real_git(repo, "add", "m.py")

    done = git_commit(repo, "untrusted")

    assert not marker.exists()
    assert "not trusted" in done.stderr
    assert done.returncode == 1 and "dgcode modified 1 file: m.py" in done.stderr
    assert (repo / "m.py").read_bytes() == BASE
    only_allowed_git(git_shim)


def test_a_configured_repair_model_is_the_one_that_repairs_not_the_embedded_one(tmp_path: Path,
                                                                                  git_shim: GitShim) -> None:
    repo = repo_with_hook(tmp_path)
    configured = tmp_path / "team-repair.gguf"  # a repair model of the person's own, by another name
    shutil.copyfile(EMBEDDED_MODEL, configured)
    (repo / "m.py").write_bytes(BROKEN)
    real_git(repo, "add", "m.py")
    before = head(repo)

    done = git_commit(repo, "broken", {"DGCODE_MODEL": str(configured)})

    assert done.returncode == 1 and head(repo) == before, done.stderr
    assert "loading model team-repair.gguf" in done.stderr
    assert EMBEDDED_MODEL.name not in done.stderr and "is a full model" not in done.stderr
    assert "dgcode modified 1 file: m.py" in done.stderr and "dgcode repaired it" in done.stderr
    assert staged(repo) == BROKEN and (repo / "m.py").read_bytes() == BASE
    only_allowed_git(git_shim)


@pytest.mark.parametrize("strict", [False, True], ids=["fail-open", "strict"])
def test_a_configured_full_model_that_cannot_run_fails_open_before_any_model_loads(
        tmp_path: Path, git_shim: GitShim, models: dict[str, Path], strict: bool) -> None:
    repo = repo_with_hook(tmp_path, *(["--strict"] if strict else []))
    (repo / "m.py").write_bytes(BROKEN)
    real_git(repo, "add", "m.py")
    before = head(repo)

    done = git_commit(repo, "autoregressive model", {"DGCODE_MODEL": str(models["qwen2-no-mask"])})

    assert ("the configured model cannot be used: qwen2-no-mask.gguf is an autoregressive 'qwen2' model with no "
            "mask token") in done.stderr, done.stderr
    assert "loading model" not in done.stderr  # neither it nor the embedded model was loaded
    if strict:
        assert done.returncode == 1 and "error:" in done.stderr and head(repo) == before
    else:
        assert done.returncode == 0 and "warning:" in done.stderr
        assert real_git_bytes(repo, "show", "HEAD:m.py") == BROKEN  # fail open: committed as staged
    assert (repo / "m.py").read_bytes() == BROKEN
    only_allowed_git(git_shim)
