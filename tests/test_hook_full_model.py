"""The hook's default check (no ``fix.cmd``) with a configured full model: the model itself repairs the syntax errors.

Real repositories, real ``git commit`` through the installed hook.  The
configured model is the tiny synthetic Dream GGUF (so the hook's checks of a
configured model run on a real file); where the answer matters, the engine
behind it is the scripted one of the hook's test seam (``DGCODE_TESTING=1``,
``DGCODE_HOOK_ENGINE``, see test_hook_support.py), whose answers are
SEARCH/REPLACE blocks.  A repair that compiles lands in the working tree, is
never staged, and stops the commit; unstaged work is kept byte for byte.  A
proposal that does not compile is never written: the file stays as staged,
is reported, and stops the commit.  A full model that cannot run (an engine
crash, the budget) fails open, and blocks under ``--strict``.  The last test
runs the REAL synthetic model: its random answer repairs nothing.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import GitShim, real_git, real_git_bytes
from test_hook_support import (
    HOOK_SUBCOMMANDS,
    base_repo,
    edit,
    git_commit,
    head,
    install_hook,
    isolated,  # noqa: F401  (autouse: no user config, model or SKIP from the person running the tests)
    prompts_asked,
    script_engine,
    write_settings,
)

BASE = b"def f():\n    return 1\n\n\ndef g():\n    return 2\n\n\ndef h():\n    return 3\n"
BROKEN = BASE.replace(b"def f():", b"def f()")
"""The staged change: a missing colon on line 1."""
UNSTAGED = b"return 3  # unstaged, kept byte for byte\n"
REPAIR = edit("m.py", "def f()\n", "def f():\n")
"""A correct answer: puts the colon back."""
NOT_A_REPAIR = edit("m.py", "def f()\n", "def f() # still no colon\n")
"""An answer that applies, but leaves the file not compiling."""


def repo_with_hook(tmp_path: Path, *flags: str) -> Path:
    repo = base_repo(tmp_path / "repo", BASE)
    install_hook(repo, *flags)
    return repo


def stage_broken_with_unstaged_tail(repo: Path) -> bytes:
    """Stage BROKEN; leave an unstaged hunk far from line 1 on top; the working copy's bytes."""
    (repo / "m.py").write_bytes(BROKEN)
    real_git(repo, "add", "m.py")
    working = BROKEN.replace(b"return 3\n", UNSTAGED)
    (repo / "m.py").write_bytes(working)
    return working


def scripted_full_model(tmp_path: Path, models: dict[str, Path], answers=(), **script: object) -> dict:
    """The synthetic Dream file configured as the model, the scripted engine answering for it."""
    env = script_engine(tmp_path, list(answers), **script)
    env["DGCODE_MODEL"] = str(models["dream"])
    return env


def prompts(env: dict) -> list[str]:
    """Each prompt the scripted engine was asked, as one text."""
    log = Path(env["_log"])
    lines = log.read_text().splitlines() if log.exists() else []
    return ["\n".join(m["content"] for m in json.loads(line)) for line in lines if line.startswith("[")]


def only_allowed_git(shim: GitShim) -> None:
    assert set(shim.subcommands()) <= HOOK_SUBCOMMANDS, set(shim.subcommands()) - HOOK_SUBCOMMANDS
    assert shim.blocked() == []


def test_a_full_model_repairs_a_staged_syntax_error_and_stops_the_commit_keeping_unstaged_work(
        tmp_path: Path, git_shim: GitShim, models: dict[str, Path]) -> None:
    repo = repo_with_hook(tmp_path)
    stage_broken_with_unstaged_tail(repo)
    env = scripted_full_model(tmp_path, models, [REPAIR])
    before = head(repo)

    done = git_commit(repo, "broken", env)

    assert done.returncode == 1 and head(repo) == before, done.stderr
    assert "the configured model dream.gguf is a full model; asking it to repair 1 file (2 answers at most)" in done.stderr
    assert "embedded" not in done.stderr
    assert "dgcode repaired it with the configured model dream.gguf" in done.stderr
    assert "dgcode modified 1 file: m.py" in done.stderr and "+def f():" in done.stderr
    assert real_git_bytes(repo, "show", ":m.py") == BROKEN  # never staged
    assert (repo / "m.py").read_bytes() == BASE.replace(b"return 3\n", UNSTAGED)  # the repair, the hunk on top
    assert prompts_asked(env) == 1
    asked = prompts(env)[0]
    assert "Make these files compile:" in asked and "m.py:1: expected ':'" in asked
    assert "def f()\n" in asked  # the file as staged
    only_allowed_git(git_shim)

    real_git(repo, "add", "m.py")
    again = git_commit(repo, "repaired", env)
    assert again.returncode == 0, again.stderr
    assert "the 1 staged Python file compiles" in again.stderr and prompts_asked(env) == 1


def test_a_full_model_answer_that_does_not_compile_is_never_written_and_stops_the_commit(
        tmp_path: Path, git_shim: GitShim, models: dict[str, Path]) -> None:
    repo = repo_with_hook(tmp_path)
    working = stage_broken_with_unstaged_tail(repo)
    env = scripted_full_model(tmp_path, models, [NOT_A_REPAIR, NOT_A_REPAIR])
    before = head(repo)

    done = git_commit(repo, "broken", env)

    assert done.returncode == 1 and head(repo) == before, done.stderr
    assert "the configured model dream.gguf could not repair it" in done.stderr
    assert "The commit was stopped" in done.stderr and "  m.py:1: expected ':'" in done.stderr
    assert "dgcode modified" not in done.stderr
    assert (repo / "m.py").read_bytes() == working and real_git_bytes(repo, "show", ":m.py") == BROKEN
    assert prompts_asked(env) == 2  # asked again, told that its edits did not compile
    assert "still do not compile" in prompts(env)[1] and "m.py:1: expected ':'" in prompts(env)[1]
    only_allowed_git(git_shim)


def test_a_second_answer_that_compiles_repairs_after_a_first_that_does_not(
        tmp_path: Path, git_shim: GitShim, models: dict[str, Path]) -> None:
    repo = repo_with_hook(tmp_path)
    stage_broken_with_unstaged_tail(repo)
    env = scripted_full_model(tmp_path, models, [NOT_A_REPAIR, REPAIR])

    done = git_commit(repo, "broken", env)

    assert done.returncode == 1 and "dgcode modified 1 file: m.py" in done.stderr, done.stderr
    assert (repo / "m.py").read_bytes() == BASE.replace(b"return 3\n", UNSTAGED) and prompts_asked(env) == 2
    only_allowed_git(git_shim)


def test_with_two_broken_files_the_one_repaired_is_written_and_the_other_reported(
        tmp_path: Path, git_shim: GitShim, models: dict[str, Path]) -> None:
    repo = repo_with_hook(tmp_path)
    other = b"x = (1,\n"
    (repo / "m.py").write_bytes(BROKEN)
    (repo / "n.py").write_bytes(other)
    real_git(repo, "add", "m.py", "n.py")
    both = REPAIR + "\n" + edit("n.py", "x = (1,\n", "x = (1,,\n")
    env = scripted_full_model(tmp_path, models, [both, "no edits this time"])
    before = head(repo)

    done = git_commit(repo, "two broken", env)

    assert done.returncode == 1 and head(repo) == before, done.stderr
    assert "dgcode modified 1 file: m.py" in done.stderr and "it repaired m.py" in done.stderr
    assert "could not repair all of them" in done.stderr and "  n.py:1:" in done.stderr
    assert (repo / "m.py").read_bytes() == BASE and (repo / "n.py").read_bytes() == other
    assert prompts_asked(env) == 2 and "n.py" in prompts(env)[1].split("Make these files compile:")[1]
    only_allowed_git(git_shim)


@pytest.mark.parametrize("strict", [False, True], ids=["fail-open", "strict"])
def test_a_full_model_whose_engine_crashes_fails_open_and_blocks_when_strict(
        tmp_path: Path, git_shim: GitShim, models: dict[str, Path], strict: bool) -> None:
    repo = repo_with_hook(tmp_path, *(["--strict"] if strict else []))
    working = stage_broken_with_unstaged_tail(repo)
    env = scripted_full_model(tmp_path, models, crash=True)
    before = head(repo)

    done = git_commit(repo, "crash", env)

    assert "killed by SIGKILL" in done.stderr, done.stderr
    if strict:
        assert done.returncode == 1 and "error:" in done.stderr and head(repo) == before
    else:
        assert done.returncode == 0 and "warning:" in done.stderr
        assert real_git_bytes(repo, "show", "HEAD:m.py") == BROKEN  # fail open: committed as staged
    assert (repo / "m.py").read_bytes() == working
    only_allowed_git(git_shim)


@pytest.mark.parametrize("strict", [False, True], ids=["fail-open", "strict"])
def test_a_full_model_past_the_budget_fails_open_and_blocks_when_strict(
        tmp_path: Path, git_shim: GitShim, models: dict[str, Path], strict: bool) -> None:
    repo = repo_with_hook(tmp_path, *(["--strict"] if strict else []))
    write_settings(repo, None, budget_s=2)
    working = stage_broken_with_unstaged_tail(repo)
    env = scripted_full_model(tmp_path, models, [REPAIR], sleep_s=3.0)
    before = head(repo)

    done = git_commit(repo, "slow", env)

    assert "the hook's budget (2 s, hook.budget_s) ran out before dgcode's repair was done" in done.stderr, \
        done.stderr
    if strict:
        assert done.returncode == 1 and "error:" in done.stderr and head(repo) == before
    else:
        assert done.returncode == 0 and "warning:" in done.stderr
        assert real_git_bytes(repo, "show", "HEAD:m.py") == BROKEN
    assert (repo / "m.py").read_bytes() == working  # nothing written
    only_allowed_git(git_shim)


def test_the_real_synthetic_full_model_is_asked_and_its_random_answer_repairs_nothing(
        tmp_path: Path, git_shim: GitShim, models: dict[str, Path]) -> None:
    repo = repo_with_hook(tmp_path)
    working = stage_broken_with_unstaged_tail(repo)
    before = head(repo)
    env = {"DGCODE_MODEL": str(models["dream"]), "DGCODE_N_CTX": "2048", "DGCODE_THREADS": "1",
           "DGCODE_SUB_BLOCK": "8", "DGCODE_MAX_TOKENS": "8", "DGCODE_HOOK_BUDGET_S": "90"}

    done = git_commit(repo, "broken", env)

    assert done.returncode == 1 and head(repo) == before, done.stderr
    assert "the configured model dream.gguf is a full model; asking it to repair 1 file (2 answers at most)" in done.stderr
    assert "loading model dream.gguf" in done.stderr and "embedded" not in done.stderr
    assert "the configured model dream.gguf could not repair it" in done.stderr
    assert "  m.py:1: expected ':'" in done.stderr and "The commit was stopped" in done.stderr
    assert "dgcode modified" not in done.stderr
    assert (repo / "m.py").read_bytes() == working and real_git_bytes(repo, "show", ":m.py") == BROKEN
    only_allowed_git(git_shim)


def test_with_only_an_endpoint_configured_its_model_repairs(tmp_path: Path, git_shim: GitShim) -> None:
    repo = repo_with_hook(tmp_path)
    stage_broken_with_unstaged_tail(repo)
    env = script_engine(tmp_path, [REPAIR])  # the test seam answers for the endpoint's engine
    env.update({"DGCODE_ENDPOINT": "http://gpu-box.invalid:8000/v1", "DGCODE_REMOTE_MODEL": "team-coder"})
    done = git_commit(repo, "broken", env)
    assert done.returncode == 1, done.stderr
    assert "the configured model team-coder at http://gpu-box.invalid:8000/v1 is a full model" in done.stderr
    assert "embedded" not in done.stderr and "dgcode modified 1 file: m.py" in done.stderr
    assert (repo / "m.py").read_bytes() == BASE.replace(b"return 3\n", UNSTAGED)
