"""Security findings in the edits package, each reproduced on a real git repository.

Tampered journals and undo records (paths outside the tree), blocks redirected
by prose to another file, read-only files, over-long paths, empty whole-file
bodies, two whole-file versions of one file, and results over the size cap.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import git_shim, init_repo, real_git, repo_state  # noqa: E402, F401

from dgcode.edits.apply import apply_response  # noqa: E402
from dgcode.edits.errors import EditError, ErrorCode  # noqa: E402
from dgcode.edits.journal import Journal, JournalFile, locate_state  # noqa: E402
from dgcode.edits.parser import SearchReplaceEdit, parse_response  # noqa: E402
from dgcode.edits.paths import resolve_edit_path  # noqa: E402
from dgcode.edits.plan import apply_plan, plan_edits  # noqa: E402
from dgcode.edits.textfile import DEFAULT_MAX_BYTES  # noqa: E402

DGCODE = Path(sys.executable).parent / "dgcode"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "repo")
    (root / "b.txt").write_bytes(b"hello\nworld\n")
    (root / "notes.txt").write_bytes(b"world\n")
    (root / "other.py").write_bytes(b"x = 1\n")
    real_git(root, "add", ".")
    real_git(root, "commit", "-q", "-m", "base")
    return root


def run_dgcode(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DGCODE), *args], capture_output=True, text=True, timeout=120, check=False)


def block(path: str | None, search: str, replace: str) -> str:
    name = f"{path}\n" if path else ""
    return f"{name}<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def state_files(repo: Path) -> list[str]:
    """Everything in dgcode's state folder except the lock: journals and the undo record."""
    folder = locate_state(repo).folder
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != "lock")


# 1. Journals and undo records are checked like edit paths.


def plant_journal(repo: Path, journal: Journal, *, as_undo_record: bool = False) -> Path:
    location = locate_state(repo)
    location.ensure()
    path = location.last_apply_path if as_undo_record else location.journal_folder / f"{journal.id}.json"
    path.write_bytes(journal.to_bytes())
    return path


def test_recover_refuses_a_journal_listing_folders_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "emptydir"
    outside.mkdir(parents=True)
    absolute = tmp_path / "srv" / "data"
    absolute.mkdir(parents=True)
    journal = Journal("20250101T000000.000000Z-apply-1", "apply", (),
                      folders_created=("../outside/emptydir", str(absolute)))
    planted = plant_journal(repo, journal)
    result = run_dgcode("recover", "--root", str(repo))
    assert result.returncode == 1, result.stdout + result.stderr
    assert outside.is_dir() and absolute.is_dir()
    assert "refused" in result.stderr and "../outside/emptydir" in result.stderr
    assert "Traceback" not in result.stderr
    assert planted.exists()  # kept for the user to inspect


def test_a_tampered_journal_is_not_partly_acted_on(repo: Path, tmp_path: Path) -> None:
    """A good file entry beside an unsafe folder entry: the file is not rolled back either."""
    (repo / "other.py").write_bytes(b"x = 2\n")
    (tmp_path / "outside").mkdir()
    journal = Journal("20250101T000000.000000Z-apply-1", "apply",
                      (JournalFile("other.py", b"x = 1\n", b"x = 2\n", 0o644, 0o644),),
                      folders_created=("../outside",))
    plant_journal(repo, journal)
    result = run_dgcode("recover", "--root", str(repo))
    assert result.returncode == 1
    assert (repo / "other.py").read_bytes() == b"x = 2\n"
    assert (tmp_path / "outside").is_dir()


def test_undo_refuses_a_record_whose_folders_leave_the_repository(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "emptydir"
    outside.mkdir(parents=True)
    journal = Journal("20250101T000000.000000Z-apply-1", "apply", (), state="committed",
                      folders_created=("../outside/emptydir", str(tmp_path / "outside")))
    plant_journal(repo, journal, as_undo_record=True)
    result = run_dgcode("undo", "--root", str(repo))
    assert result.returncode == 1
    assert outside.is_dir()
    assert "refused" in result.stdout + result.stderr


# 2. Prose naming another file redirects a block, or refuses it when unclear.

REDIRECTED = (block("b.txt", "hello\n", "HELLO\n") + "\nNow in my other file notes.txt:\n"
              + block(None, "world\n", "EARTH\n"))


def test_a_block_after_prose_naming_another_file_goes_to_that_file(repo: Path) -> None:
    report = apply_response(repo, REDIRECTED)
    assert report.ok, report.to_json()
    assert (repo / "b.txt").read_bytes() == b"HELLO\nworld\n"
    assert (repo / "notes.txt").read_bytes() == b"EARTH\n"
    same = block("b.txt", "hello\n", "HELLO\n") + "\nAnd again in `b.txt`:\n" + block(None, "world\n", "EARTH\n")
    assert [edit.path for edit in parse_response(same).edits] == ["b.txt", "b.txt"]


def test_a_block_after_prose_naming_several_files_is_refused(repo: Path) -> None:
    before = repo_state(repo)
    text = REDIRECTED.replace("notes.txt:", "notes.txt (like other.py):")
    result = parse_response(text)
    assert result.edits == (SearchReplaceEdit("b.txt", "hello\n", "HELLO\n", 1),)
    assert "notes.txt, other.py" in result.problems[0] and "unclear" in result.problems[0]
    report = apply_response(repo, text)
    assert not report.ok and report.written == ()
    assert repo_state(repo) == before


# 3. Read-only files are refused, at planning and again at write time.


def test_a_read_only_file_is_refused_and_nothing_is_written(repo: Path) -> None:
    (repo / "broken.py").write_bytes(b"print(1\n")
    (repo / "broken.py").chmod(0o444)
    text = block("other.py", "x = 1\n", "x = 2\n") + block("broken.py", "print(1\n", "print(1)\n")
    report = apply_response(repo, text)
    assert not report.ok and report.written == ()
    refused = next(e for e in report.edit_results() if e["file"] == "broken.py")
    assert refused["status"] == "refused" and "read-only" in refused["reason"]
    assert (repo / "broken.py").read_bytes() == b"print(1\n"
    assert stat.S_IMODE(os.stat(repo / "broken.py").st_mode) == 0o444
    assert (repo / "other.py").read_bytes() == b"x = 1\n"
    assert state_files(repo) == []


def test_a_file_made_read_only_after_planning_is_not_written(repo: Path) -> None:
    edits = parse_response(block("other.py", "x = 1\n", "x = 2\n") + block("notes.txt", "world\n", "EARTH\n")).edits
    plan = plan_edits(repo, edits)
    assert plan.applicable
    (repo / "notes.txt").chmod(0o444)
    with pytest.raises(EditError) as caught:
        apply_plan(plan)
    assert caught.value.code is ErrorCode.READ_ONLY and "notes.txt" in str(caught.value)
    assert (repo / "other.py").read_bytes() == b"x = 1\n"
    assert (repo / "notes.txt").read_bytes() == b"world\n"


# 4. Paths over PATH_MAX or with a name over NAME_MAX are refused like other bad paths.


@pytest.mark.parametrize("raw, why", [
    ("d/" * 2100 + "f.py", "4,096-byte limit for paths"),
    ("x" * 300 + ".py", "255-byte limit"),
    ("new/" + "é" * 130 + ".py", "255-byte limit"),
])
def test_over_long_paths_are_refused_not_a_traceback(repo: Path, raw: str, why: str) -> None:
    with pytest.raises(EditError) as caught:
        resolve_edit_path(repo, raw)
    assert caught.value.code is ErrorCode.UNSAFE_PATH and why in str(caught.value)
    report = apply_response(repo, block(raw, "", "NEW = 1\n"))
    assert [(e["status"], why in e["reason"]) for e in report.edit_results()] == [("refused", True)]
    assert sorted(p.name for p in repo.iterdir()) == [".git", "b.txt", "notes.txt", "other.py"]


def test_over_long_path_on_the_command_line_gives_a_message(repo: Path, tmp_path: Path) -> None:
    response = tmp_path / "response.txt"
    response.write_text(block("d/" * 2100 + "f.py", "", "NEW = 1\n"))
    result = run_dgcode("apply", str(response), "--root", str(repo))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "limit for paths" in result.stdout


# 5 and 6. Whole-file mode: no silent truncation, no silent "last one wins".


def test_an_empty_whole_file_body_does_not_truncate_a_file(repo: Path) -> None:
    for body in ("", "\n  \n"):
        report = apply_response(repo, f"other.py\n```python\n{body}```\n", mode="whole_file")
        assert not report.ok and report.written == ()
        reason = report.edit_results()[0]["reason"]
        assert report.edit_results()[0]["status"] == "refused" and "is empty" in reason and "other.py" in reason
        assert (repo / "other.py").read_bytes() == b"x = 1\n"
    assert apply_response(repo, "new_empty.py\n```\n```\n", mode="whole_file").ok  # a new empty file is fine
    assert (repo / "new_empty.py").read_bytes() == b""


def test_two_whole_file_blocks_for_one_file_apply_nothing(repo: Path) -> None:
    before = repo_state(repo)
    text = "other.py\n```\nx = 2\n```\nnotes.txt\n```\nplanet\n```\n./other.py\n```\nx = 3\n```\n"
    report = apply_response(repo, text, mode="whole_file")
    assert not report.ok and report.written == ()
    results = report.edit_results()
    assert [(e["file"], e["status"]) for e in results if e["file"] == "other.py"] == [
        ("other.py", "refused"), ("other.py", "refused")]
    assert "2 whole-file versions of other.py (edits 1, 3)" in results[0]["reason"]
    assert repo_state(repo) == before


# 7. One size limit: dgcode never writes a file it would then refuse to edit.


def test_an_edit_whose_result_is_over_the_size_cap_is_refused(repo: Path) -> None:
    big = "y = 0\n" * (DEFAULT_MAX_BYTES // 6 + 10)
    report = apply_response(repo, block("big.py", "", big))
    assert not report.ok and not (repo / "big.py").exists()
    reason = report.edit_results()[0]["reason"]
    assert report.edit_results()[0]["status"] == "refused" and f"{DEFAULT_MAX_BYTES:,}-byte limit" in reason
    report = apply_response(repo, f"other.py\n```\n{big}```\n", mode="whole_file")
    assert not report.ok and (repo / "other.py").read_bytes() == b"x = 1\n"
    assert state_files(repo) == []
