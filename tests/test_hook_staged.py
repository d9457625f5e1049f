"""Setting unstaged changes aside and putting them back, in real repositories: exact bytes, modes, links, names."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import GitShim, real_git, real_git_bytes, repo_state
from test_hook_support import (
    FIX_RETURN,
    HookScriptedEngine,
    base_repo,
    isolated,  # noqa: F401  (autouse: no user config, model or SKIP from the person running the tests)
    tree_bytes,
    write_settings,
)

from dgcode.workflows.hook import aside_store
from dgcode.workflows.hook.filestate import FileState, read_state
from dgcode.workflows.hook.run import HookRequest, run_hook
from dgcode.workflows.hook.staged import (
    SetAsideError,
    changed_paths,
    merge_states,
    restore,
    restore_pending,
    set_aside,
    unstaged_changes,
)

ODD = os.fsdecode(b"\xff\xfe odd name.py")
QUERY_ONLY = {"diff", "ls-files", "cat-file", "merge-file", "rev-parse"}


def every_kind_repo(tmp_path: Path) -> Path:
    """Unstaged changes of every kind on top of staged ones; CRLF by attribute; intent-to-add; untracked."""
    repo = base_repo(tmp_path / "repo")
    (repo / ".gitattributes").write_bytes(b"*.bat text eol=crlf\n")
    (repo / "run.bat").write_bytes(b"@echo one\r\n")
    (repo / "raw.txt").write_bytes(b"mixed\r\nendings\n")
    (repo / "script.sh").write_bytes(b"echo hi\n")
    (repo / "gone.txt").write_bytes(b"gone\n")
    (repo / ODD).write_bytes(b"X = 1\n")
    os.symlink("m.py", repo / "link")
    (repo / "sub").mkdir()
    (repo / "sub" / "deep.txt").write_bytes(b"deep\n")
    real_git(repo, "add", ".")
    real_git(repo, "commit", "-q", "-m", "kinds")
    (repo / "run.bat").write_bytes(b"@echo staged\r\n")
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    real_git(repo, "add", "run.bat", "m.py")
    (repo / "run.bat").write_bytes(b"@echo staged\r\n@echo unstaged\r\n")
    (repo / "m.py").write_bytes(b"def f():\n    return 3\n")
    (repo / "raw.txt").write_bytes(b"mixed\r\nendings\nand more\r\n")
    (repo / "script.sh").chmod(0o755)
    (repo / "gone.txt").unlink()
    (repo / ODD).write_bytes(b"X = 2\n")
    os.unlink(repo / "link")
    os.symlink("elsewhere", repo / "link")
    (repo / "sub" / "deep.txt").unlink()
    (repo / "sub").rmdir()
    (repo / "untracked.txt").write_bytes(b"mine\n")
    (repo / "ita.py").write_bytes(b"ITA = 1\n")
    real_git(repo, "add", "-N", "ita.py")
    return repo


PATHS = ("m.py", "run.bat", "raw.txt", "script.sh", "gone.txt", ODD, "link", "sub/deep.txt", "untracked.txt", "ita.py")


def git_dir(repo: Path) -> Path:
    return repo / ".git"


def test_set_aside_gives_the_staged_state_and_restore_gives_every_byte_back(tmp_path: Path, git_shim: GitShim) -> None:
    repo = every_kind_repo(tmp_path)
    before_files, before = tree_bytes(repo, PATHS), repo_state(repo)
    changes = unstaged_changes(repo)
    assert changes.intent_to_add == ("ita.py",)
    assert set(changes.aside) == {"m.py", "run.bat", "raw.txt", "script.sh", "gone.txt", ODD, "link", "sub/deep.txt"}

    run = set_aside(repo, git_dir(repo), changes)

    assert changed_paths(repo) == {"ita.py"}  # the working tree is the staged state now
    assert (repo / "run.bat").read_bytes() == b"@echo staged\r\n"  # checkout filters applied (eol=crlf)
    assert (repo / "m.py").read_bytes() == b"def f():\n    return 2\n"
    assert os.readlink(repo / "link") == "m.py" and (repo / "sub" / "deep.txt").read_bytes() == b"deep\n"
    assert not os.access(repo / "script.sh", os.X_OK)
    assert (repo / "untracked.txt").read_bytes() == b"mine\n" and (repo / "ita.py").read_bytes() == b"ITA = 1\n"
    patch = run.record.patch_path.read_bytes()
    assert patch.count(b"diff --git ") == len(changes.aside) and b"ita.py" not in patch

    result = restore(repo, run)

    assert result.ok and sorted(result.restored) == sorted(changes.aside)
    assert tree_bytes(repo, PATHS) == before_files
    assert not (repo / "sub").exists()
    assert repo_state(repo) == before
    assert aside_store.pending(git_dir(repo)) == []
    assert set(git_shim.subcommands()) <= QUERY_ONLY


def test_the_saved_patch_re_creates_the_unstaged_changes(tmp_path: Path) -> None:
    repo = every_kind_repo(tmp_path)
    before = tree_bytes(repo, PATHS)
    run = set_aside(repo, git_dir(repo), unstaged_changes(repo))

    real_git(repo, "apply", "--whitespace=nowarn", str(run.record.patch_path))  # the printed recovery command

    assert tree_bytes(repo, PATHS) == before


def test_a_failed_write_puts_everything_back(tmp_path: Path) -> None:
    repo = base_repo(tmp_path / "repo")
    (repo / "a.txt").write_bytes(b"a\n")
    (repo / "d").mkdir()
    (repo / "d" / "x.txt").write_bytes(b"x\n")
    real_git(repo, "add", ".")
    real_git(repo, "commit", "-q", "-m", "two")
    (repo / "a.txt").write_bytes(b"a changed\n")
    (repo / "d" / "x.txt").unlink()
    (repo / "d").rmdir()
    (repo / "d").write_bytes(b"a file where the staged folder must go\n")
    paths = ("a.txt", "d", "d/x.txt")
    before = tree_bytes(repo, paths)

    with pytest.raises(SetAsideError, match="could not write the staged version of d/x.txt"):
        set_aside(repo, git_dir(repo), unstaged_changes(repo))

    assert tree_bytes(repo, paths) == before  # a.txt was written, then put back
    assert aside_store.pending(git_dir(repo)) == []


def test_a_folder_where_a_file_was_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    repo = base_repo(tmp_path / "repo")
    (repo / "z.txt").write_bytes(b"z\n")
    real_git(repo, "add", ".")
    real_git(repo, "commit", "-q", "-m", "z")
    (repo / "m.py").write_bytes(b"changed\n")
    (repo / "z.txt").unlink()
    (repo / "z.txt").mkdir()
    (repo / "z.txt" / "inside").write_bytes(b"in the way\n")
    before = tree_bytes(repo, ("m.py", "z.txt/inside"))

    with pytest.raises(SetAsideError, match="neither a file nor a symlink"):
        set_aside(repo, git_dir(repo), unstaged_changes(repo))

    assert tree_bytes(repo, ("m.py", "z.txt/inside")) == before
    assert aside_store.records(git_dir(repo)) == []


def test_too_much_to_set_aside_writes_nothing(tmp_path: Path) -> None:
    repo = base_repo(tmp_path / "repo")
    (repo / "m.py").write_bytes(b"x" * 5000)
    with pytest.raises(SetAsideError, match="limit"):
        set_aside(repo, git_dir(repo), unstaged_changes(repo), max_bytes=1000)
    assert (repo / "m.py").read_bytes() == b"x" * 5000
    assert aside_store.records(git_dir(repo)) == []


def test_merge_keeps_both_changes_or_reports_a_conflict(tmp_path: Path) -> None:
    base = FileState("file", b"a\nb\nc\nd\ne\nf\ng\n", 0o644)
    fix = FileState("file", b"a\nB\nc\nd\ne\nf\ng\n", 0o644)
    mine = FileState("file", b"a\nb\nc\nd\ne\nf\ng\nmine\n", 0o600)
    assert merge_states(tmp_path, base, fix, mine) == FileState("file", b"a\nB\nc\nd\ne\nf\ng\nmine\n", 0o600)
    clash = FileState("file", b"a\nmine\nc\nd\ne\nf\ng\n", 0o644)
    assert merge_states(tmp_path, base, fix, clash) is None
    binary = FileState("file", b"\0bin\0", 0o644)
    assert merge_states(tmp_path, base, fix, binary) is None


def test_an_interrupted_run_is_refused_then_restored_by_hook_restore(tmp_path: Path, monkeypatch) -> None:
    repo = base_repo(tmp_path / "repo")
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    real_git(repo, "add", "m.py")
    (repo / "m.py").write_bytes(b"def f():\n    return 2  # mine\n")
    (repo / "other.py").write_bytes(b"O = 1\n")
    real_git(repo, "add", "other.py")
    (repo / "other.py").write_bytes(b"O = 2\n")
    write_settings(repo)
    set_aside(repo, git_dir(repo), unstaged_changes(repo))  # ... and the process died here
    (repo / "other.py").write_bytes(b"O = 3  # edited since\n")

    outcome = run_hook(HookRequest(repo, env={}))
    assert outcome.verdict == "pending" and outcome.exit_code == 1 and "dgcode hook restore" in outcome.message

    with aside_store.hook_lock(git_dir(repo)):
        [(record, result)] = restore_pending(repo, git_dir(repo))
    assert result.restored == ["m.py"] and result.left == ["other.py"]
    assert (repo / "m.py").read_bytes() == b"def f():\n    return 2  # mine\n"
    assert (repo / "other.py").read_bytes() == b"O = 3  # edited since\n"
    assert record.blob_path(1, "user").read_bytes() == b"O = 2\n"
    assert json.loads((record.folder / "manifest.json").read_text())["state"] == "kept"
    assert aside_store.pending(git_dir(repo)) == []
    assert run_hook(HookRequest(repo, env={})).verdict == "passed"


def test_the_hook_lock_lets_one_run_at_a_time(tmp_path: Path) -> None:
    repo = base_repo(tmp_path / "repo")
    (repo / "m.py").write_bytes(b"def f():\n    return 2\n")
    real_git(repo, "add", "m.py")
    write_settings(repo, strict=True)
    with aside_store.hook_lock(git_dir(repo)):
        busy = run_hook(HookRequest(repo, env={}))
    assert busy.verdict == "strict_error" and "another dgcode hook run" in busy.message


def test_the_budget_stops_a_slow_model_and_the_files_still_go_back(tmp_path: Path) -> None:
    repo = base_repo(tmp_path / "repo", b"def f():\n    return 0\n")
    (repo / "m.py").write_bytes(b"def f():\n    return 1\n")
    real_git(repo, "add", "m.py")
    (repo / "m.py").write_bytes(b"def f():\n    return 1  # mine\n")
    write_settings(repo, budget_s=1.5)
    engine = HookScriptedEngine([FIX_RETURN], False, tmp_path / "log.jsonl", sleep_s=2.0)
    began = time.monotonic()

    outcome = run_hook(HookRequest(repo, env={}), open_engine=lambda _config, _say: engine)

    assert time.monotonic() - began < 6
    assert outcome.verdict == "fail_open" and outcome.exit_code == 0 and "budget" in outcome.message
    assert (repo / "m.py").read_bytes() == b"def f():\n    return 1  # mine\n"
    assert real_git_bytes(repo, "diff", "--cached", "--name-only") == b"m.py\n"


def test_read_state_refuses_folders(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(Exception, match="neither a file nor a symlink"):
        read_state(tmp_path / "d")
    assert read_state(tmp_path / "missing").kind == "absent"


def test_a_check_command_that_rewrites_files_stops_the_commit_too(tmp_path: Path) -> None:
    """A formatter as fix.cmd: it passes, but the working tree is no longer what gets committed."""
    staged = b"def f():\n    return 2\n\n\ndef g():\n    return 3\n"
    repo = base_repo(tmp_path / "repo", b"def f():\n    return 0\n")
    (repo / "m.py").write_bytes(staged)
    real_git(repo, "add", "m.py")
    (repo / "m.py").write_bytes(staged.replace(b"def f():", b"def f():  # mine, unstaged"))
    write_settings(repo, f"{sys.executable} -c \"open('m.py', 'a').write('# formatted\\\\n')\"")

    outcome = run_hook(HookRequest(repo, env={}))

    assert outcome.verdict == "modified" and outcome.exit_code == 1, outcome.message
    assert "the check command modified 1 file: m.py" in outcome.message
    assert (repo / "m.py").read_bytes() == staged.replace(b"def f():", b"def f():  # mine, unstaged") + b"# formatted\n"
    assert real_git(repo, "show", ":m.py") == staged.decode()
