"""The apply transaction on a real dirty repository: all or nothing, snapshot first, index and untracked work untouched.

Each test fails the apply at a different step and checks that `git diff`,
`git diff --cached`, `git status` and untracked bytes are exactly as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import dirty_repo, git_shim, real_git, real_git_bytes, repo_state  # noqa: E402, F401

from dgcode.edits import apply as apply_module  # noqa: E402
from dgcode.edits import journal as journal_module  # noqa: E402
from dgcode.edits import plan as plan_module  # noqa: E402
from dgcode.edits.apply import apply_response  # noqa: E402
from dgcode.edits.errors import EditError, ErrorCode  # noqa: E402
from dgcode.edits.journal import exclusive_lock, locate_state, read_last_apply, recover  # noqa: E402
from dgcode.vcs.snapshot import SnapshotError, list_snapshots  # noqa: E402

RESPONSE = textwrap.dedent("""\
    staged.py
    <<<<<<< SEARCH
        return 3
    =======
        return 4
    >>>>>>> REPLACE
    unstaged.py
    <<<<<<< SEARCH
        return 2
    =======
        return 5
    >>>>>>> REPLACE
    clean.py
    <<<<<<< SEARCH
        return 1
    =======
        return 6
    >>>>>>> REPLACE
    ita.py
    <<<<<<< SEARCH
    ITA = 1
    =======
    ITA = 2
    >>>>>>> REPLACE
    pkg/sub/new.py
    <<<<<<< SEARCH
    =======
    NEW = 1
    >>>>>>> REPLACE
    """)
NEW_BYTES = {
    "staged.py": b"def staged():\n    return 4\n",
    "unstaged.py": b"def unstaged():\r\n    return 5\r\n",
    "clean.py": b"def clean():\n    return 6\n",
    "ita.py": b"ITA = 2\n",
    "pkg/sub/new.py": b"NEW = 1\n",
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return dirty_repo(tmp_path / "repo")


def assert_snapshot_holds_untracked_work(repo: Path) -> None:
    refs = list_snapshots(repo)
    assert len(refs) == 1
    assert real_git_bytes(repo, "show", f"{refs[0]}:notes/untracked.txt") == b"my untracked notes\n"
    assert real_git_bytes(repo, "show", f"{refs[0]}:staged.py") == b"def staged():\n    return 3\n"


def assert_no_journal_left(repo: Path) -> None:
    location = locate_state(repo)
    assert location.pending_journals() == []
    assert read_last_apply(location) is None


def test_apply_writes_every_file_and_leaves_index_and_untracked_alone(repo: Path) -> None:
    before = repo_state(repo)
    report = apply_response(repo, RESPONSE)
    assert report.ok, report.to_json()
    assert set(report.written) == set(NEW_BYTES)
    for name, data in NEW_BYTES.items():
        assert (repo / name).read_bytes() == data
    after = repo_state(repo)
    assert after.diff_cached == before.diff_cached
    assert after.untracked["notes/untracked.txt"] == b"my untracked notes\n"
    assert after.head == before.head and after.branches == before.branches
    assert os.stat(repo / "tool.sh").st_mode & 0o777 == 0o755
    assert report.snapshot is not None and report.snapshot.taken
    assert_snapshot_holds_untracked_work(repo)
    location = locate_state(repo)
    assert location.pending_journals() == []
    assert read_last_apply(location).id  # kept as the undo record
    document = report.to_json()
    assert [edit["status"] for edit in document["edits"]] == ["applied"] * 5
    assert document["snapshot"]["ref"] == report.snapshot.ref


def test_a_bad_edit_writes_nothing_and_takes_no_snapshot(repo: Path) -> None:
    before = repo_state(repo)
    report = apply_response(repo, RESPONSE.replace("ITA = 1", "ITA = 99", 1))
    assert not report.ok
    assert [e["status"] for e in report.edit_results()] == ["applied", "applied", "applied", "failed", "applied"]
    assert "SEARCH text not found" in report.edit_results()[3]["reason"]
    assert repo_state(repo) == before
    assert list_snapshots(repo) == []
    assert not (repo / "pkg").exists()


def test_a_truncated_response_writes_nothing(repo: Path) -> None:
    before = repo_state(repo)
    report = apply_response(repo, RESPONSE[: RESPONSE.index("NEW = 1")])
    assert not report.ok and report.parse_problems
    assert {e["status"] for e in report.edit_results()} == {"failed"}
    assert repo_state(repo) == before


@pytest.mark.parametrize("failing_call", [1, 2, 3, 4, 5])
def test_a_failing_write_puts_everything_back(repo: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int) -> None:
    before = repo_state(repo)
    real_write = plan_module.write_atomic
    calls = []

    def flaky_write(path, data, **kwargs):
        calls.append(path)
        if len(calls) == failing_call:
            raise EditError(f"disk full writing {path}", code=ErrorCode.IO_FAILED)
        return real_write(path, data, **kwargs)

    monkeypatch.setattr(plan_module, "write_atomic", flaky_write)
    report = apply_response(repo, RESPONSE)
    assert not report.ok and not report.recovery_needed
    assert "disk full" in report.error and report.written == ()
    assert repo_state(repo) == before
    assert not (repo / "pkg").exists()
    assert_snapshot_holds_untracked_work(repo)
    assert_no_journal_left(repo)


def test_a_file_changed_after_the_snapshot_is_not_overwritten(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_snapshot = apply_module.take_snapshot
    expected = {}

    def snapshot_then_someone_edits(root, **kwargs):
        taken = real_snapshot(root, **kwargs)
        (repo / "clean.py").write_bytes(b"def clean():\n    return 'edited meanwhile'\n")
        expected["state"] = repo_state(repo)
        return taken

    monkeypatch.setattr(apply_module, "take_snapshot", snapshot_then_someone_edits)
    report = apply_response(repo, RESPONSE)
    assert not report.ok
    assert "changed since dgcode read it" in report.error
    assert repo_state(repo) == expected["state"]
    assert_snapshot_holds_untracked_work(repo)
    assert_no_journal_left(repo)


def test_a_failing_snapshot_stops_the_apply(repo: Path) -> None:
    (repo / ".git" / "refs" / "dgcode").write_bytes(b"a file where the snapshot refs folder should be\n")
    before = repo_state(repo)
    report = apply_response(repo, RESPONSE)
    assert not report.ok
    assert report.error.startswith("nothing was written: could not")
    assert repo_state(repo) == before


def test_a_failing_journal_write_stops_the_apply(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = repo_state(repo)

    def no_space(path, data, **kwargs):
        raise EditError("no space left for the journal", code=ErrorCode.IO_FAILED)

    monkeypatch.setattr(journal_module, "write_atomic", no_space)
    report = apply_response(repo, RESPONSE)
    assert not report.ok and "no space left for the journal" in report.error
    assert repo_state(repo) == before
    assert_snapshot_holds_untracked_work(repo)


def test_when_putting_back_fails_the_journal_stays_and_recover_restores(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = repo_state(repo)
    real_write = plan_module.write_atomic
    calls = []

    def breaks_from_the_third_call(path, data, **kwargs):
        calls.append(path)
        if len(calls) >= 3:
            raise EditError("device went away", code=ErrorCode.IO_FAILED)
        return real_write(path, data, **kwargs)

    monkeypatch.setattr(plan_module, "write_atomic", breaks_from_the_third_call)
    report = apply_response(repo, RESPONSE)
    assert report.recovery_needed and "run `dgcode recover`" in report.error
    assert repo_state(repo) != before  # two files are new, and could not be put back
    monkeypatch.setattr(plan_module, "write_atomic", real_write)
    refused = apply_response(repo, RESPONSE)  # a new apply waits for the recovery
    assert not refused.ok and "dgcode recover" in refused.error
    recovered = recover(repo)
    assert recovered.ok and recovered.found, recovered.problems
    assert repo_state(repo) == before
    assert not (repo / "pkg").exists()
    assert_no_journal_left(repo)


def test_when_recording_fails_recover_finish_completes(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cannot_record(location, journal, path):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(apply_module, "commit_journal", cannot_record)
    report = apply_response(repo, RESPONSE)
    assert report.recovery_needed and "dgcode recover --finish" in report.error
    monkeypatch.undo()
    finished = recover(repo, finish=True)
    assert finished.ok and [f.action for f in finished.files] == ["already new"] * 5
    for name, data in NEW_BYTES.items():
        assert (repo / name).read_bytes() == data
    assert read_last_apply(locate_state(repo)) is not None  # finishing makes it undoable


def test_a_held_lock_refuses_a_second_apply(repo: Path) -> None:
    before = repo_state(repo)
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from dgcode.edits.journal import exclusive_lock, locate_state
            with exclusive_lock(locate_state({str(repo)!r})):
                print("holding", flush=True)
                sys.stdin.readline()
            """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        report = apply_response(repo, RESPONSE)
        assert not report.ok
        assert "another dgcode run is writing" in report.error and f"process {holder.pid}" in report.error
        assert repo_state(repo) == before
        assert list_snapshots(repo) == []
    finally:
        holder.communicate("done\n", timeout=30)
    assert apply_response(repo, RESPONSE).ok  # released when the holder ends


def test_the_lock_is_exclusive_between_threads_and_reentrant_for_its_holder(repo: Path) -> None:
    import threading

    location = locate_state(repo)
    seen = []

    def other_thread() -> None:
        try:
            with exclusive_lock(location):
                seen.append("got it")
        except journal_module.LockHeld as error:
            seen.append(str(error))

    with exclusive_lock(location):
        with exclusive_lock(location):  # the holder may take it again (the hook's fix writes under it)
            worker = threading.Thread(target=other_thread)
            worker.start()
            worker.join()
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert len(seen) == 2 and all("another dgcode task" in message for message in seen)
    with exclusive_lock(location):  # released at the end of the outer block
        pass
    other_thread()
    assert seen[-1] == "got it"


def test_dry_run_writes_nothing_not_even_state(repo: Path) -> None:
    before = repo_state(repo)
    report = apply_response(repo, RESPONSE, dry_run=True)
    assert report.ok and report.written == () and report.snapshot is None
    assert {change.path for change in report.changes} == set(NEW_BYTES)
    assert repo_state(repo) == before
    assert not (repo / ".git" / "dgcode").exists()


def test_outside_git_state_goes_to_a_private_ignored_folder(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "clean.py").write_bytes(b"def clean():\n    return 1\n")
    response = "clean.py\n<<<<<<< SEARCH\n    return 1\n=======\n    return 6\n>>>>>>> REPLACE\n"
    report = apply_response(folder, response)
    assert report.ok
    assert report.snapshot is not None and not report.snapshot.taken
    assert "no snapshot taken" in report.snapshot.note
    assert (folder / ".dgcode" / ".gitignore").read_bytes().endswith(b"*\n")
    assert (folder / ".dgcode" / "last-apply.json").exists()
    sneaky = ".dgcode/last-apply.json\n<<<<<<< SEARCH\n=======\n{}\n>>>>>>> REPLACE\n"
    (folder / ".dgcode" / "last-apply.json").unlink()
    refused = apply_response(folder, sneaky)
    assert not refused.ok and "dgcode's own state folder" in refused.error
    assert not (folder / ".dgcode" / "last-apply.json").exists()


def test_snapshot_errors_surface_as_a_refusal(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(root, **kwargs):
        raise SnapshotError("could not record the index: simulated")

    monkeypatch.setattr(apply_module, "take_snapshot", broken)
    before = repo_state(repo)
    report = apply_response(repo, RESPONSE)
    assert report.error == "nothing was written: could not record the index: simulated"
    assert repo_state(repo) == before
    assert real_git(repo, "stash", "list") == ""
