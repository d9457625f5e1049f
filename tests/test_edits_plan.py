"""Edit plans: in-memory checks first, all-or-nothing writes, staleness re-checked before writing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgcode.edits import plan as plan_module
from dgcode.edits.atomic import FileSnapshot
from dgcode.edits.errors import EditError, ErrorCode
from dgcode.edits.matching import MatchLevel
from dgcode.edits.parser import SearchReplaceEdit, WholeFileEdit, parse_response
from dgcode.edits.plan import EditStatus, apply_plan, plan_edits


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "a.py").write_bytes(b"def a():\r\n    return 1\r\n")
    (tmp_path / "b.py").write_bytes(b"b = 1\n")
    return tmp_path


def snapshot_of_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def sr(path: str, search: str, replace: str, index: int = 1) -> SearchReplaceEdit:
    return SearchReplaceEdit(path, search, replace, index)


def test_applies_several_edits_to_several_files(repo: Path) -> None:
    response = (
        "a.py\n<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE\n"
        "<<<<<<< SEARCH\ndef a():\n    return 2\n=======\ndef a():\n    return 3\n>>>>>>> REPLACE\n"
        "b.py\n<<<<<<< SEARCH\nb = 1   \n=======\nb = 2\n>>>>>>> REPLACE\n"
        "pkg/new.py\n<<<<<<< SEARCH\n=======\nNEW = True\n>>>>>>> REPLACE\n"
    )
    planned = plan_edits(repo, parse_response(response).edits)
    assert planned.applicable, planned.problems
    assert [(o.path, o.status, o.level) for o in planned.outcomes] == [
        ("a.py", EditStatus.APPLIED, MatchLevel.EXACT),
        ("a.py", EditStatus.APPLIED, MatchLevel.EXACT),
        ("b.py", EditStatus.APPLIED, MatchLevel.TRAILING_WHITESPACE),
        ("pkg/new.py", EditStatus.APPLIED, None),
    ]
    assert (repo / "a.py").read_bytes() == b"def a():\r\n    return 1\r\n"  # planning writes nothing
    written = apply_plan(planned)
    assert written == ("a.py", "b.py", "pkg/new.py")
    assert (repo / "a.py").read_bytes() == b"def a():\r\n    return 3\r\n"
    assert (repo / "b.py").read_bytes() == b"b = 2\n"
    assert (repo / "pkg" / "new.py").read_bytes() == b"NEW = True\n"


def test_second_file_fails_so_nothing_is_written(repo: Path) -> None:
    before = snapshot_of_tree(repo)
    edits = [sr("a.py", "    return 1\n", "    return 9\n", 1), sr("b.py", "not there\n", "x\n", 2)]
    planned = plan_edits(repo, edits)
    assert not planned.applicable
    assert [o.status for o in planned.outcomes] == [EditStatus.APPLIED, EditStatus.FAILED]
    assert "SEARCH text not found in b.py" in planned.outcomes[1].reason
    with pytest.raises(EditError) as caught:
        apply_plan(planned)
    assert caught.value.code is ErrorCode.NOT_APPLICABLE
    assert "edit 2 (b.py) failed" in str(caught.value)
    assert snapshot_of_tree(repo) == before


def test_refusals_are_refused_not_failed(repo: Path) -> None:
    (repo / "bin.dat").write_bytes(b"\x00\x01")
    (repo / "latin.txt").write_bytes(b"caf\xe9\n")
    (repo / "dup.py").write_bytes(b"x\nx\n")
    edits = [
        sr("../escape.py", "", "x\n"),
        sr(".git/config", "", "x\n"),
        sr("bin.dat", "a\n", "b\n"),
        sr("latin.txt", "caf\n", "x\n"),
        sr("dup.py", "x\n", "y\n"),
    ]
    planned = plan_edits(repo, edits)
    assert [o.status for o in planned.outcomes] == [EditStatus.REFUSED] * 5
    assert planned.files == () or not planned.applicable
    assert not (repo.parent / "escape.py").exists()


def test_edits_to_one_file_apply_in_order(repo: Path) -> None:
    edits = [sr("b.py", "b = 1\n", "b = 2\n"), sr("b.py", "b = 2\n", "b = 3\nc = 4\n", 2)]
    planned = plan_edits(repo, edits)
    assert planned.applicable
    assert planned.files[0].new_bytes == b"b = 3\nc = 4\n"


def test_stale_since_model_read_is_refused(repo: Path) -> None:
    seen = FileSnapshot.capture(repo / "b.py")
    (repo / "b.py").write_bytes(b"b = 1\n# user typed this\n")
    planned = plan_edits(repo, [sr("b.py", "b = 1\n", "b = 2\n")], read_snapshots={"./b.py": seen})
    assert planned.outcomes[0].status is EditStatus.REFUSED
    assert "changed since dgcode read it" in planned.outcomes[0].reason


def test_stale_between_plan_and_apply_writes_nothing(repo: Path) -> None:
    planned = plan_edits(repo, [sr("a.py", "    return 1\n", "    return 2\n"), sr("b.py", "b = 1\n", "b = 2\n", 2)])
    (repo / "b.py").write_bytes(b"b = 1  # edited meanwhile\n")
    before = snapshot_of_tree(repo)
    with pytest.raises(EditError) as caught:
        apply_plan(planned)
    assert caught.value.code is ErrorCode.STALE
    assert snapshot_of_tree(repo) == before


def test_new_file_that_appears_before_apply_is_not_overwritten(repo: Path) -> None:
    planned = plan_edits(repo, [sr("c.py", "", "c = 1\n")])
    (repo / "c.py").write_bytes(b"mine\n")
    with pytest.raises(EditError, match="appeared since"):
        apply_plan(planned)
    assert (repo / "c.py").read_bytes() == b"mine\n"


def test_failed_write_puts_back_files_already_written(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot_of_tree(repo)
    planned = plan_edits(
        repo,
        [
            sr("a.py", "    return 1\n", "    return 2\n"),
            sr("new/n.py", "", "n\n", 2),
            sr("b.py", "b = 1\n", "b = 2\n", 3),
        ],
    )
    real_write = plan_module.write_atomic
    calls = []

    def failing_third_write(path: Path, data: bytes, *, mode: int | None = None, **options: bool) -> None:
        calls.append(path)
        if len(calls) == 3:
            raise EditError("disk full", code=ErrorCode.IO_FAILED)
        real_write(path, data, mode=mode, **options)

    monkeypatch.setattr(plan_module, "write_atomic", failing_third_write)
    with pytest.raises(EditError, match="put back the files already written"):
        apply_plan(planned)
    assert snapshot_of_tree(repo) == before
    assert not (repo / "new").exists()


def test_whole_file_edit_keeps_unchanged_line_endings(repo: Path) -> None:
    (repo / "mixed.txt").write_bytes(b"one\r\ntwo\nthree\r\n")
    planned = plan_edits(repo, [WholeFileEdit("mixed.txt", "one\ntwo\n2.5\nthree\n", 1)])
    apply_plan(planned)
    assert (repo / "mixed.txt").read_bytes() == b"one\r\ntwo\n2.5\r\nthree\r\n"


def test_no_op_edit_does_not_touch_the_file(repo: Path) -> None:
    path = repo / "b.py"
    mtime = path.stat().st_mtime_ns
    planned = plan_edits(repo, [sr("b.py", "b = 1\n", "b = 1\n")])
    assert apply_plan(planned) == ()
    assert path.stat().st_mtime_ns == mtime


def test_edit_through_symlink_refused_in_plan(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    (outside / "t.py").write_bytes(b"t = 1\n")
    (repo / "link").symlink_to(outside, target_is_directory=True)
    planned = plan_edits(repo, [sr("link/t.py", "t = 1\n", "t = 2\n")])
    assert planned.outcomes[0].status is EditStatus.REFUSED
    assert (outside / "t.py").read_bytes() == b"t = 1\n"
