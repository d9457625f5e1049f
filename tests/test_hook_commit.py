"""The installed pre-commit hook under a real `git commit`: staged content checked, unstaged work restored exactly.

Each test builds a real repository, installs the hook with `python -m
dgcode.cli.hook install`, and commits with the real git binary; the hook
process still finds the suite's logging, blocking `git` shim first on PATH, so
anything dgcode runs through git is checked (RELIABILITY #2).  The model is a
scripted engine loaded through the test seam (`DGCODE_TESTING=1` +
`DGCODE_HOOK_ENGINE`), see test_hook_support.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import REAL_GIT, GitShim, real_git, real_git_bytes, repo_state
from test_hook_support import (
    FIX_RETURN,
    HOOK_SUBCOMMANDS,
    PYTHON,
    base_repo,
    edit,
    git_commit,
    head,
    install_hook,
    isolated,  # noqa: F401  (autouse: no user config, model or SKIP from the person running the tests)
    prompts_asked,
    script_engine,
    tree_bytes,
    write_settings,
)

ODD_NAME = os.fsdecode(b"caf\xe9 \xff.txt")
"""A file name that is not UTF-8."""


def hook_calls_are_allowed(shim: GitShim) -> None:
    """The hook ran only query / snapshot git commands; its `add`s were the snapshot's, on a private index."""
    subcommands = set(shim.subcommands())
    assert subcommands <= HOOK_SUBCOMMANDS, subcommands - HOOK_SUBCOMMANDS
    for call in shim.calls():
        if "add" in call.args or "update-index" in call.args:
            assert "--update" in call.args or "--pathspec-from-file=-" in call.args, call
    assert shim.blocked() == []


def messy_repo(tmp_path: Path) -> Path:
    """m.py staged (passing) with a failing unstaged change on top, and every other kind of uncommitted work."""
    repo = base_repo(tmp_path / "repo")
    (repo / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    (repo / ODD_NAME).write_bytes(b"odd\n")
    (repo / "tool.sh").write_bytes(b"#!/bin/sh\necho 1\n")
    (repo / "gone.txt").write_bytes(b"staged, then deleted in the working tree\n")
    real_git(repo, "add", "crlf.txt", ODD_NAME, "tool.sh", "gone.txt")
    real_git(repo, "commit", "-q", "-m", "more")
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    (repo / "crlf.txt").write_bytes(b"one\r\ntwo staged\r\n")
    (repo / "gone.txt").write_bytes(b"staged version\n")
    real_git(repo, "add", "m.py", "crlf.txt", "gone.txt")
    (repo / "m.py").write_bytes(b"def f():\n    return 3  # unstaged: would fail the check\n")
    (repo / "crlf.txt").write_bytes(b"one\r\ntwo staged\r\nthree unstaged\r\n")
    (repo / ODD_NAME).write_bytes(b"odd, changed\n")
    (repo / "tool.sh").chmod(0o755)
    (repo / "gone.txt").unlink()
    (repo / "notes.txt").write_bytes(b"untracked\n")
    (repo / "ita.py").write_bytes(b"ITA = 1\n")
    real_git(repo, "add", "-N", "ita.py")
    return repo


ALL_PATHS = ("m.py", "crlf.txt", ODD_NAME, "tool.sh", "gone.txt", "notes.txt", "ita.py", ".dgcode.toml")


def test_passing_check_commits_the_staged_content_and_restores_unstaged_work_exactly(tmp_path: Path,
                                                                                      git_shim: GitShim) -> None:
    repo = messy_repo(tmp_path)
    write_settings(repo)
    install_hook(repo)
    staged_tree = real_git(repo, "write-tree").strip()
    before_files, before = tree_bytes(repo, ALL_PATHS), repo_state(repo)

    done = git_commit(repo, "staged only")

    assert done.returncode == 0, done.stderr
    assert "passes on the staged files" in done.stderr
    assert real_git(repo, "rev-parse", "HEAD^{tree}").strip() == staged_tree
    assert tree_bytes(repo, ALL_PATHS) == before_files
    after = repo_state(repo)
    assert (after.diff, after.untracked) == (before.diff, before.untracked)
    assert real_git_bytes(repo, "diff", "--cached", "--binary") == b""
    hook_calls_are_allowed(git_shim)
    assert "cat-file" in git_shim.subcommands()  # it did swap the staged versions in


def test_a_fix_stops_the_commit_and_keeps_the_unstaged_change_on_top(tmp_path: Path, git_shim: GitShim) -> None:
    original = b"def f():\n    return 0\n\n\ndef g():\n    return 'g'\n"
    repo = base_repo(tmp_path / "repo", original)
    (repo / "m.py").write_bytes(original.replace(b"return 0", b"return 1"))
    real_git(repo, "add", "m.py")
    unstaged = original.replace(b"return 0", b"return 1") + b"# my unstaged note\n"
    (repo / "m.py").write_bytes(unstaged)
    (repo / "notes.txt").write_bytes(b"untracked\n")
    write_settings(repo)
    install_hook(repo)
    env = script_engine(tmp_path, [FIX_RETURN])
    cached_before, commit_before = real_git_bytes(repo, "diff", "--cached", "--binary"), head(repo)

    done = git_commit(repo, "buggy", env)

    assert done.returncode == 1, done.stderr
    assert "dgcode modified 1 file: m.py" in done.stderr
    assert "-    return 1\n+    return 2" in done.stderr
    # The hook's own first run is told once, in its words; run_fix announces only the re-check after the fix.
    assert done.stderr.count("running `") == 2 and "fails (exit status" not in done.stderr, done.stderr
    assert head(repo) == commit_before
    assert real_git_bytes(repo, "diff", "--cached", "--binary") == cached_before  # nothing staged by dgcode
    assert (repo / "m.py").read_bytes() == unstaged.replace(b"return 1", b"return 2")
    assert (repo / "notes.txt").read_bytes() == b"untracked\n"
    assert prompts_asked(env) == 1
    hook_calls_are_allowed(git_shim)


def buggy_staged_repo(tmp_path: Path) -> Path:
    """A repository with the hook installed and a staged m.py whose f() returns 1 (the check wants 2)."""
    repo = base_repo(tmp_path / "repo", b"def f():\n    return 0\n")
    (repo / "m.py").write_bytes(b"def f():\n    return 1\n")
    real_git(repo, "add", "m.py")
    write_settings(repo)
    install_hook(repo)
    return repo


def test_a_fix_without_unstaged_changes_is_left_in_the_working_tree(tmp_path: Path, git_shim: GitShim) -> None:
    repo = buggy_staged_repo(tmp_path)
    env = script_engine(tmp_path, [FIX_RETURN])

    done = git_commit(repo, "buggy", env)

    assert done.returncode == 1 and "dgcode modified 1 file: m.py" in done.stderr
    assert (repo / "m.py").read_bytes() == b"def f():\n    return 2\n"
    assert real_git(repo, "diff", "--cached", "--name-only").split() == ["m.py"]
    assert real_git(repo, "show", ":m.py") == "def f():\n    return 1\n"
    # the person stages the fix and commits again: the check passes now
    real_git(repo, "add", "m.py")
    again = git_commit(repo, "fixed", env)
    assert again.returncode == 0, again.stderr
    assert prompts_asked(env) == 1


def test_a_fix_that_conflicts_with_unstaged_changes_keeps_the_persons_bytes_and_saves_the_fix(
        tmp_path: Path, git_shim: GitShim) -> None:
    repo = base_repo(tmp_path / "repo", b"def f():\n    return 0\n")
    (repo / "m.py").write_bytes(b"def f():\n    return 1\n")
    real_git(repo, "add", "m.py")
    mine = b"def f():\n    return 5  # mine, same line as the fix\n"
    (repo / "m.py").write_bytes(mine)
    write_settings(repo)
    install_hook(repo)
    env = script_engine(tmp_path, [FIX_RETURN])
    cached_before = real_git_bytes(repo, "diff", "--cached", "--binary")

    done = git_commit(repo, "buggy", env)

    assert done.returncode == 1, done.stderr
    assert "conflicts with your unstaged changes" in done.stderr
    assert (repo / "m.py").read_bytes() == mine
    assert real_git_bytes(repo, "diff", "--cached", "--binary") == cached_before
    [patch] = (repo / ".git" / "dgcode" / "hook").glob("*/fix.patch")
    assert str(patch) in done.stderr
    assert b"+    return 2" in patch.read_bytes()
    real_git(repo, "apply", "--cached", "--check", str(patch))  # it applies to the staged version
    hook_calls_are_allowed(git_shim)


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("model", ["missing", "broken"])
def test_a_configured_model_that_is_missing_or_broken_fails_open_unless_strict(
        tmp_path: Path, git_shim: GitShim, strict: bool, model: str) -> None:
    """dgcode's own failure; with no model configured at all, a failing check stops the commit
    (test_security_fix_hook.py)."""
    repo = base_repo(tmp_path / "repo")
    (repo / "m.py").write_bytes(b"def f():\n    return 7\n")
    real_git(repo, "add", "m.py")
    (repo / "m.py").write_bytes(b"def f():\n    return 7  # unstaged\n")
    write_settings(repo, strict=strict)
    install_hook(repo)
    commit_before = head(repo)
    model_file = tmp_path / f"{model}.gguf"
    if model == "broken":
        model_file.write_bytes(b"not a GGUF file at all\n" * 4)

    done = git_commit(repo, "bad model", {"DGCODE_MODEL": str(model_file)})

    assert str(model_file) in done.stderr
    assert "does not exist" in done.stderr if model == "missing" else "GGUF" in done.stderr
    if strict:
        assert done.returncode == 1 and "error:" in done.stderr and head(repo) == commit_before
    else:
        assert done.returncode == 0 and "warning:" in done.stderr and head(repo) != commit_before
    assert (repo / "m.py").read_bytes() == b"def f():\n    return 7  # unstaged\n"
    hook_calls_are_allowed(git_shim)


def test_an_engine_crash_fails_open_and_strict_install_blocks(tmp_path: Path, git_shim: GitShim) -> None:
    repo = base_repo(tmp_path / "repo")
    (repo / "m.py").write_bytes(b"def f():\n    return 7\n")
    real_git(repo, "add", "m.py")
    write_settings(repo)
    install_hook(repo, "--strict")
    env = script_engine(tmp_path, crash=True)
    commit_before = head(repo)

    blocked = git_commit(repo, "crash", env)
    assert blocked.returncode == 1 and "killed by SIGKILL" in blocked.stderr and head(repo) == commit_before

    install_hook(repo)  # reinstalled without --strict
    done = git_commit(repo, "crash", env)
    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stderr and "killed by SIGKILL" in done.stderr
    assert head(repo) != commit_before
    assert prompts_asked(env) == 2
    hook_calls_are_allowed(git_shim)


def test_budget_exceeded_fails_open(tmp_path: Path, git_shim: GitShim) -> None:
    repo = base_repo(tmp_path / "repo")
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    real_git(repo, "add", "m.py")
    (repo / "m.py").write_bytes(b"def f():\n    return 2  # unstaged\n")
    write_settings(repo, f"{PYTHON} -c \"import time; time.sleep(30)\"", budget_s=0.5)
    install_hook(repo)

    done = git_commit(repo, "slow check")

    assert done.returncode == 0, done.stderr
    assert "did not finish within the hook's budget" in done.stderr
    assert (repo / "m.py").read_bytes() == b"def f():\n    return 2  # unstaged\n"


def test_skip_no_command_and_nothing_staged_do_nothing(tmp_path: Path, git_shim: GitShim) -> None:
    repo = base_repo(tmp_path / "repo")
    (repo / "m.py").write_bytes(b"def f():\n    return 9\n")
    real_git(repo, "add", "m.py")
    write_settings(repo)
    install_hook(repo)
    env = script_engine(tmp_path, [FIX_RETURN])

    skipped = git_commit(repo, "skip", {**env, "SKIP": "black, dgcode"})
    assert skipped.returncode == 0 and "SKIP names dgcode" in skipped.stderr
    empty = git_commit(repo, "empty", env, "--allow-empty")
    assert empty.returncode == 0 and "nothing is staged" in empty.stderr
    (repo / "m.py").write_bytes(b"def f():\n    return 10\n")
    real_git(repo, "add", "m.py")
    write_settings(repo, None)
    unconfigured = git_commit(repo, "no command", env)
    assert unconfigured.returncode == 0 and "no check command is configured" in unconfigured.stderr
    assert prompts_asked(env) == 0
    assert not list((repo / ".git" / "dgcode" / "hook").glob("*/manifest.json"))
    # read-only: with no check command the default syntax check reads the staged blobs (cat-file)
    assert set(git_shim.subcommands()) <= {"rev-parse", "ls-files", "diff", "cat-file"}


def test_a_cherry_pick_in_progress_is_left_alone(tmp_path: Path, git_shim: GitShim) -> None:
    repo = base_repo(tmp_path / "repo")
    real_git(repo, "checkout", "-q", "-b", "side")
    (repo / "m.py").write_bytes(b"def f():\n    return 'side'\n")
    real_git(repo, "commit", "-q", "-am", "side")
    real_git(repo, "checkout", "-q", "main")
    (repo / "m.py").write_bytes(b"def f():\n    return 'main'\n")
    real_git(repo, "commit", "-q", "-am", "main")
    conflicted = subprocess.run([REAL_GIT, "cherry-pick", "side"], cwd=repo,
                                capture_output=True, check=False)
    assert conflicted.returncode != 0 and (repo / ".git" / "CHERRY_PICK_HEAD").exists()
    write_settings(repo)
    install_hook(repo)

    unmerged = subprocess.run([sys.executable, "-m", "dgcode.cli.hook", "run"], cwd=repo, capture_output=True, check=False,
                              text=True)
    assert unmerged.returncode == 0 and "cherry-pick is in progress" in unmerged.stderr

    (repo / "m.py").write_bytes(b"def f():\n    return 1\n")  # resolved, but the check would fail
    real_git(repo, "add", "m.py")
    done = git_commit(repo, "picked")
    assert done.returncode == 0, done.stderr
    assert "cherry-pick is in progress" in done.stderr
    assert set(git_shim.subcommands()) <= {"rev-parse"}


def test_unmerged_paths_are_left_alone(tmp_path: Path, git_shim: GitShim) -> None:
    repo = base_repo(tmp_path / "repo")
    blob = real_git(repo, "hash-object", "-w", "--stdin", input_bytes=b"other\n").strip()
    index_info = f"0 {'0' * 40}\tm.py\n100644 {blob} 2\tm.py\n100644 {blob} 3\tm.py\n"
    real_git(repo, "update-index", "--index-info", input_bytes=index_info.encode())
    write_settings(repo)

    done = subprocess.run([sys.executable, "-m", "dgcode.cli.hook", "run"], cwd=repo, capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    assert "unmerged paths" in done.stderr


def test_a_merge_in_progress_is_left_alone(tmp_path: Path, git_shim: GitShim) -> None:
    repo = base_repo(tmp_path / "repo")
    real_git(repo, "checkout", "-q", "-b", "side")
    (repo / "other.py").write_bytes(b"X = 1\n")
    real_git(repo, "add", "other.py")
    real_git(repo, "commit", "-q", "-m", "side")
    real_git(repo, "checkout", "-q", "main")
    real_git(repo, "merge", "--no-commit", "--no-ff", "-q", "side")
    assert (repo / ".git" / "MERGE_HEAD").exists()
    write_settings(repo)  # m.py returns 1: the check would fail
    install_hook(repo)

    done = git_commit(repo, "merge side")

    assert done.returncode == 0, done.stderr
    assert "a merge is in progress" in done.stderr


def test_sigterm_puts_the_files_back_and_a_killed_run_is_restored_later(tmp_path: Path, git_shim: GitShim) -> None:
    repo = base_repo(tmp_path / "repo")
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    real_git(repo, "add", "m.py")
    mine = b"def f():\n    return 2  # unstaged, CRLF\r\n"
    (repo / "m.py").write_bytes(mine)
    pids = tmp_path / "pids"
    write_settings(repo, f"echo $PPID $$ > {pids}; exec sleep 60")
    install_hook(repo)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}

    for signal_name, expect_restored in (("SIGTERM", True), ("SIGKILL", False)):
        pids.unlink(missing_ok=True)
        commit = subprocess.Popen([REAL_GIT, "commit", "-m", "x"], cwd=repo, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        hook_pid, check_pid = _wait_for_pids(pids, commit)
        assert (repo / "m.py").read_bytes() == b"def f():\n    return 2\n"  # the staged version, during the check
        import signal

        os.kill(hook_pid, getattr(signal, signal_name))
        _out, err = commit.communicate(timeout=30)
        _stop(check_pid)
        assert commit.returncode != 0
        if expect_restored:
            assert b"interrupted; your files were put back" in err, err
            assert (repo / "m.py").read_bytes() == mine
    # killed outright: the staged version is still there, the person's bytes are in the named folder
    assert (repo / "m.py").read_bytes() == b"def f():\n    return 2\n"
    refused = git_commit(repo, "again")
    assert refused.returncode == 1 and "dgcode hook restore" in refused.stderr
    restored = subprocess.run([sys.executable, "-m", "dgcode.cli.hook", "restore"], cwd=repo, capture_output=True, check=False,
                              text=True)
    assert restored.returncode == 0, restored.stderr
    assert (repo / "m.py").read_bytes() == mine
    manifests = [json.loads(p.read_text()) for p in (repo / ".git" / "dgcode" / "hook").glob("*/manifest.json")]
    assert {m["state"] for m in manifests} == {"restored"}


def _wait_for_pids(pids: Path, commit: subprocess.Popen) -> tuple[int, int]:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pids.exists() and len(pids.read_text().split()) == 2:
            hook_pid, check_pid = (int(x) for x in pids.read_text().split())
            return hook_pid, check_pid
        assert commit.poll() is None, commit.communicate()
        time.sleep(0.02)
    raise AssertionError("the check command never started")


def _stop(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_the_model_never_sees_unstaged_content_and_edits_outside_staged_files_are_refused(
        tmp_path: Path, git_shim: GitShim) -> None:
    repo = base_repo(tmp_path / "repo")
    (repo / "other.py").write_bytes(b"SECRET = 'committed'\n")
    real_git(repo, "add", "other.py")
    real_git(repo, "commit", "-q", "-m", "other")
    (repo / "m.py").write_bytes(b"def f():\n    return 1  # staged\n")
    real_git(repo, "add", "m.py")
    (repo / "m.py").write_bytes(b"def f():\n    return 1  # UNSTAGED-MARKER\n")
    write_settings(repo)
    install_hook(repo)
    env = script_engine(tmp_path, [edit("other.py", "SECRET = 'committed'\n", "SECRET = 'x'\n")] * 2)

    done = git_commit(repo, "scope", env)

    assert done.returncode == 1, done.stderr
    assert "could not fix it" in done.stderr
    assert (repo / "other.py").read_bytes() == b"SECRET = 'committed'\n"
    prompts = Path(env["_log"]).read_text()
    assert "# staged" in prompts and "UNSTAGED-MARKER" not in prompts
    assert (repo / "m.py").read_bytes() == b"def f():\n    return 1  # UNSTAGED-MARKER\n"


def test_a_partial_commit_is_checked_as_it_will_be_committed(tmp_path: Path, git_shim: GitShim) -> None:
    """`git commit PATH` uses a temporary index (GIT_INDEX_FILE): other staged changes are not in that commit."""
    repo = base_repo(tmp_path / "repo")
    (repo / "other.py").write_bytes(b"X = 1\n")
    real_git(repo, "add", "other.py")
    real_git(repo, "commit", "-q", "-m", "other")
    write_settings(repo, f"{PYTHON} -c \"import m, other; assert m.f() == 2 and other.X == 1\"")
    install_hook(repo)
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    (repo / "other.py").write_bytes(b"X = 2  # staged, but not part of `git commit m.py`\n")
    real_git(repo, "add", "other.py")

    done = git_commit(repo, "only m.py", None, "m.py")

    assert done.returncode == 0, done.stderr
    assert "passes on the staged files" in done.stderr
    assert real_git(repo, "show", "HEAD:other.py") == "X = 1\n"
    assert (repo / "other.py").read_bytes() == b"X = 2  # staged, but not part of `git commit m.py`\n"
    assert real_git(repo, "diff", "--cached", "--name-only").split() == ["other.py"]
    hook_calls_are_allowed(git_shim)


def test_the_repository_lock_is_held_while_the_model_works(tmp_path: Path, git_shim: GitShim) -> None:
    """No other dgcode run can write in the repository between the hook setting files aside and restoring them."""
    import threading
    import time

    from dgcode.edits.journal import LockHeld, exclusive_lock, locate_state

    repo = buggy_staged_repo(tmp_path)
    env = script_engine(tmp_path, [FIX_RETURN], sleep_s=1.5)
    result: list = []
    commit = threading.Thread(target=lambda: result.append(git_commit(repo, "buggy", env)))
    commit.start()
    deadline = time.monotonic() + 60
    while prompts_asked(env) == 0 and time.monotonic() < deadline:  # the model has the prompt: it is "thinking"
        time.sleep(0.05)
    assert prompts_asked(env) == 1
    with pytest.raises(LockHeld):
        with exclusive_lock(locate_state(repo)):
            pass
    commit.join()
    assert result[0].returncode == 1 and "dgcode modified 1 file: m.py" in result[0].stderr
    with exclusive_lock(locate_state(repo)):  # released once the hook is done
        pass
