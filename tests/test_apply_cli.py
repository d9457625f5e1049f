"""`apply`, `undo` and `recover` on the command line: JSON schema, exit codes, dry runs that write nothing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

sys.path.insert(0, os.path.dirname(__file__))

from git_shim import dirty_repo, git_shim, repo_state  # noqa: E402, F401

from dgcode.cli.edits import register  # noqa: E402
from dgcode.edits.journal import Journal, JournalFile, locate_state, write_journal  # noqa: E402

runner = CliRunner()
GOOD = (
    "clean.py\n<<<<<<< SEARCH\n    return 1\n=======\n    return 6\n>>>>>>> REPLACE\n"
    "unstaged.py\n<<<<<<< SEARCH\n    return 2   \n=======\n    return 5\n>>>>>>> REPLACE\n"
)
BAD = GOOD + "clean.py\n<<<<<<< SEARCH\nnot in the file\n=======\nx\n>>>>>>> REPLACE\n"
EDIT_KEYS = {"index", "file", "status", "reason", "level", "note"}


@pytest.fixture
def app() -> typer.Typer:
    application = typer.Typer()
    register(application)
    return application


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return dirty_repo(tmp_path / "repo")


def response_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "response.txt"
    path.write_text(text)
    return str(path)


def test_apply_json_schema_and_exit_zero(app, repo: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["apply", response_file(tmp_path, GOOD), "--root", str(repo), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["dry_run"] is False
    assert [set(edit) for edit in document["edits"]] == [EDIT_KEYS, EDIT_KEYS]
    assert [(e["file"], e["status"], e["level"], e["reason"]) for e in document["edits"]] == [
        ("clean.py", "applied", "exact", ""), ("unstaged.py", "applied", "trailing_whitespace", "")]
    assert sorted(document["files_changed"]) == ["clean.py", "unstaged.py"]
    assert document["snapshot"]["ref"].startswith("refs/dgcode/snapshots/")
    assert (repo / "unstaged.py").read_bytes() == b"def unstaged():\r\n    return 5\r\n"


def test_apply_with_a_failing_edit_exits_one_and_writes_nothing(app, repo: Path, tmp_path: Path) -> None:
    before = repo_state(repo)
    result = runner.invoke(app, ["apply", response_file(tmp_path, BAD), "--root", str(repo), "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False and document["files_changed"] == []
    assert [e["status"] for e in document["edits"]] == ["applied", "applied", "failed"]
    assert "SEARCH text not found" in document["edits"][2]["reason"]
    assert repo_state(repo) == before


def test_human_output_shows_a_diff_and_the_tolerance_used(app, repo: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["apply", response_file(tmp_path, GOOD), "--root", str(repo)])
    assert result.exit_code == 0, result.output
    assert "-    return 1" in result.stdout and "+    return 6" in result.stdout
    assert "--- a/clean.py" in result.stdout
    assert "matched with tolerance: trailing_whitespace" in result.stdout
    assert "clean.py applied\n" in result.stdout  # an exact match is not annotated


def test_dry_run_writes_nothing(app, repo: Path, tmp_path: Path) -> None:
    before = repo_state(repo)
    files_before = {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts}
    result = runner.invoke(app, ["apply", response_file(tmp_path, GOOD), "--root", str(repo), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "+    return 6" in result.stdout and "dry run: nothing was written" in result.stdout
    assert repo_state(repo) == before
    assert {p: p.read_bytes() for p in repo.rglob("*") if p.is_file() and ".git" not in p.parts} == files_before
    assert not (repo / ".git" / "dgcode").exists()
    as_json = runner.invoke(app, ["apply", response_file(tmp_path, GOOD), "--root", str(repo), "--dry-run", "--json"])
    assert json.loads(as_json.stdout)["would_change"] == ["clean.py", "unstaged.py"]


def test_usage_errors_exit_two(app, repo: Path, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["apply", str(tmp_path / "nope.txt"), "--root", str(repo)])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    not_a_folder = runner.invoke(app, ["apply", response_file(tmp_path, GOOD), "--root", str(repo / "clean.py")])
    assert not_a_folder.exit_code == 2 and "is not a folder" in not_a_folder.output
    assert runner.invoke(app, ["undo", "--root", str(tmp_path / "nowhere")]).exit_code == 2
    assert runner.invoke(app, ["recover", "--root", str(tmp_path / "nowhere")]).exit_code == 2
    assert runner.invoke(app, ["apply"]).exit_code == 2


def test_whole_file_mode_and_stdin(app, repo: Path) -> None:
    response = "clean.py\n```python\ndef clean():\n    return 7\n```\n"
    result = runner.invoke(app, ["apply", "-", "--root", str(repo), "--whole-file", "--json"], input=response)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["edits"][0]["level"] is None
    assert (repo / "clean.py").read_bytes() == b"def clean():\n    return 7\n"


def test_undo_then_nothing_to_undo(app, repo: Path, tmp_path: Path) -> None:
    before = repo_state(repo)
    assert runner.invoke(app, ["apply", response_file(tmp_path, GOOD), "--root", str(repo)]).exit_code == 0
    undone = runner.invoke(app, ["undo", "--root", str(repo), "--json"])
    assert undone.exit_code == 0, undone.output
    document = json.loads(undone.stdout)
    assert document["undone"] is True
    assert sorted((f["file"], f["action"]) for f in document["files"]) == [
        ("clean.py", "reverted"), ("unstaged.py", "reverted")]
    assert repo_state(repo) == before
    again = runner.invoke(app, ["undo", "--root", str(repo)])
    assert again.exit_code == 1 and "nothing to undo" in again.output


def test_undo_refusal_exits_one_and_names_the_file(app, repo: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["apply", response_file(tmp_path, GOOD), "--root", str(repo)]).exit_code == 0
    (repo / "clean.py").write_bytes(b"mine\n")
    result = runner.invoke(app, ["undo", "--root", str(repo)])
    assert result.exit_code == 1
    assert "clean.py changed since dgcode wrote it" in result.output


def test_recover_rolls_back_a_left_journal(app, repo: Path) -> None:
    location = locate_state(repo)
    old = (repo / "clean.py").read_bytes()
    journal = Journal("test-left", "apply", (JournalFile("clean.py", old, b"half applied\n", 0o644, 0o644),))
    write_journal(location, journal)
    (repo / "clean.py").write_bytes(b"half applied\n")
    refused = runner.invoke(app, ["apply", "-", "--root", str(repo)], input=GOOD)
    assert refused.exit_code == 1 and "dgcode recover" in refused.output
    result = runner.invoke(app, ["recover", "--root", str(repo)])
    assert result.exit_code == 0, result.output
    assert "clean.py: rolled back" in result.output
    assert (repo / "clean.py").read_bytes() == old
    nothing = runner.invoke(app, ["recover", "--root", str(repo), "--json"])
    assert nothing.exit_code == 0 and json.loads(nothing.stdout)["found"] is False


def test_recover_refuses_a_file_holding_neither_version(app, repo: Path) -> None:
    location = locate_state(repo)
    old = (repo / "clean.py").read_bytes()
    write_journal(location, Journal("test-other", "apply", (JournalFile("clean.py", old, b"new\n", 0o644, 0o644),)))
    (repo / "clean.py").write_bytes(b"someone else's\n")
    result = runner.invoke(app, ["recover", "--root", str(repo)])
    assert result.exit_code == 1
    assert "clean.py changed since dgcode wrote it" in result.output
    assert (repo / "clean.py").read_bytes() == b"someone else's\n"
    assert location.pending_journals()  # kept for the person to decide
