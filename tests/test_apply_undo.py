"""Undo reverts dgcode's own last apply to the exact old bytes, and refuses when a file changed since."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import dirty_repo, git_shim, repo_state  # noqa: E402, F401

from dgcode.edits import journal as journal_module  # noqa: E402
from dgcode.edits.apply import apply_response, undo  # noqa: E402
from dgcode.edits.errors import EditError, ErrorCode  # noqa: E402
from dgcode.edits.journal import locate_state, read_last_apply, recover  # noqa: E402

RESPONSE = textwrap.dedent("""\
    unstaged.py
    <<<<<<< SEARCH
        return 2
    =======
        return 5
        # and a new line
    >>>>>>> REPLACE
    tool.sh
    <<<<<<< SEARCH
    echo 1
    =======
    echo 2
    >>>>>>> REPLACE
    made/here/new.py
    <<<<<<< SEARCH
    =======
    NEW = 1
    >>>>>>> REPLACE
    """)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return dirty_repo(tmp_path / "repo")


def test_undo_restores_exact_bytes_modes_and_removes_created_files(repo: Path) -> None:
    before = repo_state(repo)
    old_unstaged = (repo / "unstaged.py").read_bytes()
    assert apply_response(repo, RESPONSE).ok
    assert (repo / "unstaged.py").read_bytes() == b"def unstaged():\r\n    return 5\r\n    # and a new line\r\n"
    report = undo(repo)
    assert report.undone, report.message
    assert {(f.path, f.action) for f in report.files} == {
        ("unstaged.py", "reverted"), ("tool.sh", "reverted"), ("made/here/new.py", "removed")}
    assert (repo / "unstaged.py").read_bytes() == old_unstaged
    assert (repo / "tool.sh").read_bytes() == b"#!/bin/sh\necho 1\n"
    assert os.stat(repo / "tool.sh").st_mode & 0o7777 == 0o755
    assert not (repo / "made").exists()
    assert repo_state(repo) == before
    assert read_last_apply(locate_state(repo)) is None
    again = undo(repo)
    assert not again.undone and again.message.startswith("nothing to undo")


def test_undo_refuses_when_a_file_changed_since_and_writes_nothing(repo: Path) -> None:
    assert apply_response(repo, RESPONSE).ok
    (repo / "tool.sh").write_bytes(b"#!/bin/sh\necho 2\necho mine\n")
    state = repo_state(repo)
    report = undo(repo)
    assert not report.undone
    assert len(report.refused) == 1 and report.refused[0].startswith("tool.sh changed since dgcode wrote it")
    assert "tool.sh" in report.message
    assert repo_state(repo) == state
    assert read_last_apply(locate_state(repo)) is not None  # still undoable once the file is put back


@pytest.mark.parametrize("how", ["edited", "deleted"])
def test_a_created_file_is_removed_only_if_unchanged(repo: Path, how: str) -> None:
    assert apply_response(repo, RESPONSE).ok
    created = repo / "made" / "here" / "new.py"
    if how == "edited":
        created.write_bytes(b"NEW = 1\nmine = True\n")
    else:
        created.unlink()
    report = undo(repo)
    assert not report.undone
    expected = "changed since dgcode wrote it" if how == "edited" else "was deleted since dgcode created it"
    assert report.refused == tuple(r for r in report.refused if r.startswith("made/here/new.py"))
    assert expected in report.refused[0]
    assert (created.read_bytes() == b"NEW = 1\nmine = True\n") if how == "edited" else not created.exists()
    assert (repo / "tool.sh").read_bytes() == b"#!/bin/sh\necho 2\n"  # nothing else reverted either


def test_a_file_put_back_by_hand_is_named(repo: Path) -> None:
    assert apply_response(repo, RESPONSE).ok
    (repo / "tool.sh").write_bytes(b"#!/bin/sh\necho 1\n")
    report = undo(repo)
    assert not report.undone
    assert "tool.sh no longer has the bytes dgcode wrote" in report.refused[0]


def test_folders_holding_other_files_are_kept(repo: Path) -> None:
    assert apply_response(repo, RESPONSE).ok
    (repo / "made" / "mine.txt").write_bytes(b"mine\n")
    assert undo(repo).undone
    assert not (repo / "made" / "here").exists()
    assert (repo / "made" / "mine.txt").read_bytes() == b"mine\n"


def test_nothing_to_undo_says_so(repo: Path) -> None:
    report = undo(repo)
    assert not report.undone and report.refused == ()
    assert report.message == f"nothing to undo: dgcode has no record of an apply in {os.path.realpath(repo)}"


def test_a_failed_undo_puts_the_applied_files_back(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert apply_response(repo, RESPONSE).ok
    applied = repo_state(repo)
    real_write = journal_module.write_atomic
    calls = []

    def fails_on_second_file(path, data, **kwargs):
        calls.append(path)
        if len(calls) == 3:  # 1: the undo journal, 2: first file, 3: second file
            raise EditError("disk full", code=ErrorCode.IO_FAILED)
        return real_write(path, data, **kwargs)

    monkeypatch.setattr(journal_module, "write_atomic", fails_on_second_file)
    report = undo(repo)
    assert not report.undone and not report.recovery_needed
    assert "disk full" in report.message and "put back" in report.message
    assert repo_state(repo) == applied
    assert locate_state(repo).pending_journals() == []
    monkeypatch.undo()
    assert undo(repo).undone


def test_undo_outside_git(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"one\r\ntwo\r\n")
    (folder / "a.txt").chmod(0o640)
    response = "a.txt\n<<<<<<< SEARCH\ntwo\n=======\nthree\n>>>>>>> REPLACE\n"
    assert apply_response(folder, response).ok
    assert (folder / "a.txt").read_bytes() == b"one\r\nthree\r\n"
    report = undo(folder)
    assert report.undone and report.snapshot is not None and not report.snapshot.taken
    assert (folder / "a.txt").read_bytes() == b"one\r\ntwo\r\n"
    assert os.stat(folder / "a.txt").st_mode & 0o777 == 0o640


def test_undo_and_recover_in_a_fresh_folder_create_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    assert undo(folder).message.startswith("nothing to undo")
    assert recover(folder).message.startswith("nothing to recover")
    assert list(folder.iterdir()) == []
