"""dgcode's one git runner (dgcode.vcs.git): bounded in time, one set of settings, one error type."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import GitShim, _bash_quote, dirty_repo, git_shim, real_git  # noqa: E402, F401

from dgcode.context.errors import ContextError  # noqa: E402
from dgcode.context.gitcli import run_git as context_git  # noqa: E402
from dgcode.context.gitstate import read_git_state  # noqa: E402
from dgcode.vcs import git as vcs_git  # noqa: E402
from dgcode.vcs.git import GIT_CONFIG, GitError  # noqa: E402
from dgcode.vcs.snapshot import SnapshotError, list_snapshots, take_snapshot  # noqa: E402
from dgcode.workflows.hook.hookgit import HookGitError  # noqa: E402
from dgcode.workflows.hook.hookgit import git as hook_git  # noqa: E402

SLEEP_S = 30
GENEROUS_S = 15
"""A bound far above the 1 s limit and far below the sleep: no tight timing."""


def hanging_git(folder: Path, next_git: Path, subcommand: str) -> Path:
    """A `git` that hangs (a `sleep` child, its pid written to ``folder/sleep.pid``) on ``subcommand``."""
    folder.mkdir(parents=True, exist_ok=True)
    pid_file = folder / "sleep.pid"
    script = folder / "git"
    script.write_text(
        "#!/bin/bash\n"
        f"for a in \"$@\"; do if [ \"$a\" = {subcommand} ]; then\n"
        f"  sleep {SLEEP_S} & echo $! > {_bash_quote(str(pid_file))}; wait; exit 0\n"
        "fi; done\n"
        f"exec {_bash_quote(str(next_git))} \"$@\"\n"
    )
    script.chmod(0o755)
    return pid_file


def put_first_on_path(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def gone(pid: int, within_s: float = 5.0) -> bool:
    """Whether ``pid`` has exited (a zombie waiting for init to reap it counts as gone)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return True
        except (OSError, IndexError):
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_a_hung_git_is_killed_at_the_time_limit_with_no_orphan(tmp_path: Path, monkeypatch, git_shim) -> None:  # noqa: F811
    repo = dirty_repo(tmp_path / "repo")
    pid_file = hanging_git(tmp_path / "hang", git_shim.executable, "write-tree")
    put_first_on_path(monkeypatch, tmp_path / "hang")
    started = time.monotonic()
    with pytest.raises(GitError) as raised:
        vcs_git.run(repo, "write-tree", timeout_s=1)
    assert time.monotonic() - started < GENEROUS_S
    assert raised.value.timed_out
    assert "`git write-tree` took over 1 s; gave up" in str(raised.value)
    assert raised.value.command == ("write-tree",)
    assert gone(int(pid_file.read_text())), "the hung git's child was left running"


def test_taking_a_snapshot_is_bounded_by_the_runner(tmp_path: Path, monkeypatch, git_shim) -> None:  # noqa: F811
    repo = dirty_repo(tmp_path / "repo")
    pid_file = hanging_git(tmp_path / "hang", git_shim.executable, "commit-tree")
    put_first_on_path(monkeypatch, tmp_path / "hang")
    monkeypatch.setattr(vcs_git, "DEFAULT_TIMEOUT_S", 1.0)
    started = time.monotonic()
    with pytest.raises(SnapshotError) as raised:
        take_snapshot(repo)
    assert time.monotonic() - started < GENEROUS_S
    assert isinstance(raised.value, GitError) and raised.value.timed_out
    assert "`git commit-tree" in str(raised.value) and "took over 1 s" in str(raised.value)
    assert gone(int(pid_file.read_text()))
    assert list_snapshots(repo) == []  # nothing half-stored


def test_every_git_call_carries_the_same_settings(tmp_path: Path, monkeypatch, git_shim) -> None:  # noqa: F811
    repo = dirty_repo(tmp_path / "repo")
    take_snapshot(repo)
    read_git_state(repo)
    context_git(repo, "rev-parse", "HEAD")
    hook_git(repo, "diff", "--cached", "--name-only")
    calls = git_shim.calls()
    assert {"write-tree", "commit-tree", "update-ref", "diff", "rev-parse"} <= set(git_shim.subcommands())
    for call in calls:
        assert call.args[: len(GIT_CONFIG)] == GIT_CONFIG, call
    for pair in ("core.quotePath=false", "color.ui=false", "core.pager=cat", "diff.noprefix=false"):
        assert pair in GIT_CONFIG


def env_logging_git(folder: Path, next_git: Path) -> Path:
    """A `git` that appends the variables dgcode controls to ``folder/env.log``, then runs ``next_git``."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "env.log"
    names = ("GIT_OPTIONAL_LOCKS", "GIT_TERMINAL_PROMPT", "LC_ALL", "GIT_PAGER", "GIT_INDEX_FILE",
             "GIT_LITERAL_PATHSPECS")
    fields = " ".join(f"{name}=${{{name}-unset}}" for name in names)
    script = folder / "git"
    script.write_text(f"#!/bin/bash\necho \"{fields}\" >> {_bash_quote(str(log))}\n"
                      f"exec {_bash_quote(str(next_git))} \"$@\"\n")
    script.chmod(0o755)
    return log


def test_environment_is_shared_and_the_hook_keeps_its_index_explicitly(tmp_path: Path, monkeypatch,
                                                                      git_shim) -> None:  # noqa: F811
    repo = dirty_repo(tmp_path / "repo")
    log = env_logging_git(tmp_path / "envlog", git_shim.executable)
    put_first_on_path(monkeypatch, tmp_path / "envlog")
    monkeypatch.chdir(repo)
    monkeypatch.setenv("GIT_INDEX_FILE", ".git/index")  # relative, as `git commit` passes it to a hook
    context_git(repo, "rev-parse", "HEAD")
    hook_git(repo, "rev-parse", "HEAD")
    take_snapshot(repo)
    lines = log.read_text().splitlines()
    shared = "GIT_OPTIONAL_LOCKS=0 GIT_TERMINAL_PROMPT=0 LC_ALL=C GIT_PAGER=cat "
    assert all(line.startswith(shared) for line in lines), lines
    assert "GIT_INDEX_FILE=unset GIT_LITERAL_PATHSPECS=unset" in lines[0]  # context: a hook cannot redirect it
    absolute = os.path.join(os.getcwd(), ".git/index")
    assert f"GIT_INDEX_FILE={absolute} GIT_LITERAL_PATHSPECS=1" in lines[1]  # the commit's own index
    assert os.environ["GIT_INDEX_FILE"] == ".git/index"  # passed per call, not changed for the process
    private = [line for line in lines[2:] if "dgcode-snapshot-" in line]
    assert private and all("GIT_LITERAL_PATHSPECS=1" in line for line in private)


def test_the_error_carries_command_status_and_stderr(tmp_path: Path) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    ceiling = {"GIT_CEILING_DIRECTORIES": str(tmp_path)}
    with pytest.raises(GitError) as raised:
        vcs_git.run(outside, "rev-parse", "HEAD", env=ceiling)
    error = raised.value
    assert error.command == ("rev-parse", "HEAD") and error.status == 128 and not error.timed_out
    assert "not a git repository" in error.stderr
    assert str(error).startswith("`git rev-parse HEAD` failed: fatal: not a git repository")
    for runner, kind in ((hook_git, HookGitError), (context_git, ContextError)):
        with pytest.raises(GitError) as raised:
            runner(outside, "rev-parse", "HEAD")
        assert isinstance(raised.value, kind)
        assert raised.value.command == ("rev-parse", "HEAD") and raised.value.status == 128
        assert "not a git repository" in raised.value.stderr
    assert issubclass(SnapshotError, GitError)


def test_missing_git_keeps_each_callers_message(tmp_path: Path, monkeypatch) -> None:
    repo = dirty_repo(tmp_path / "repo")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ContextError, match="git is not installed or not on PATH; dgcode needs it"):
        context_git(repo, "rev-parse", "HEAD")
    with pytest.raises(HookGitError, match="^git is not installed or not on PATH$"):
        hook_git(repo, "rev-parse", "HEAD")
    with pytest.raises(SnapshotError, match="is in a git repository but cannot run git"):
        take_snapshot(repo)
