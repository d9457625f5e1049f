"""Per-hunk acceptance (dgcode/edits/hunks.py): hunks cut from a change, any subset rebuilt byte for byte, applied."""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

sys.path.insert(0, os.path.dirname(__file__))

from dgcode.edits.apply import undo
from dgcode.edits.diff import FileChange
from dgcode.edits.hunks import (
    accepted_bytes,
    accepted_changes,
    apply_accepted,
    byte_lines,
    edit_for,
    reduced,
    split_hunks,
)
from dgcode.edits.textfile import TextFile
from dgcode.edits.wholefile import replace_whole_file

ENDINGS = st.sampled_from([b"\n", b"\r\n"])
LINE_TEXT = st.sampled_from([b"a", b"b", b"c", b"def f():", b"    return 1", b"", b"x = 1", b"\xc3\xa9t\xc3\xa9"])


@st.composite
def files(draw) -> bytes:
    lines = draw(st.lists(st.tuples(LINE_TEXT, ENDINGS), max_size=40))
    data = b"".join(text + ending for text, ending in lines)
    if lines and draw(st.booleans()):  # no final newline
        data = data.rstrip(b"\r\n")
    return data


@st.composite
def changes(draw) -> FileChange:
    old = draw(files())
    lines = list(byte_lines(old))
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(lines)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        new_line = draw(LINE_TEXT) + draw(ENDINGS)
        if action == "insert" or not lines or position == len(lines):
            lines.insert(position, new_line)
        elif action == "delete":
            del lines[position]
        else:
            lines[position] = new_line
    return FileChange("f.py", old, b"".join(lines))


@settings(max_examples=300, deadline=None)
@given(changes())
def test_all_hunks_give_the_new_bytes_and_none_the_old(change: FileChange) -> None:
    hunks = split_hunks(change)
    assert accepted_bytes(change, range(len(hunks))) == change.new_bytes
    assert accepted_bytes(change, ()) == change.old_bytes
    assert bool(hunks) == (change.old_bytes != change.new_bytes)


@settings(max_examples=300, deadline=None)
@given(changes(), st.data())
def test_any_subset_keeps_the_lines_outside_accepted_hunks(change: FileChange, data) -> None:
    hunks = split_hunks(change)
    chosen = data.draw(st.sets(st.sampled_from(range(len(hunks))))) if hunks else set()
    result = byte_lines(accepted_bytes(change, chosen))
    old = byte_lines(change.old_bytes)
    expected: list[bytes] = []
    position = 0
    for hunk in hunks:  # old lines everywhere, each accepted hunk's new lines in its place
        expected += old[position:hunk.old_start]
        expected += hunk.new_lines if hunk.index in chosen else old[hunk.old_start:hunk.old_stop]
        position = hunk.old_stop
    expected += old[position:]
    assert list(result) == expected
    first = min((hunks[i].old_start for i in chosen), default=len(old))
    assert result[:first] == old[:first]


@st.composite
def planned_changes(draw) -> FileChange:
    """A change as dgcode's planner makes one: a whole-file rewrite keeping unchanged lines' bytes."""
    old = draw(files())
    texts = [line.decode().rstrip("\r\n") for line in byte_lines(old)]
    for _ in range(draw(st.integers(0, 6))):
        position = draw(st.integers(0, len(texts)))
        new_text = draw(LINE_TEXT).decode()
        if draw(st.booleans()) or position == len(texts):
            texts.insert(position, new_text)
        else:
            del texts[position]
    content = "".join(text + "\n" for text in texts)
    assume(content.strip() or not old.strip())
    new = replace_whole_file(TextFile.from_bytes(old), content).to_bytes()
    return FileChange("f.py", old, new)


@settings(max_examples=300, deadline=None)
@given(planned_changes(), st.data())
def test_a_reduced_change_can_be_written_exactly(change: FileChange, data) -> None:
    hunks = split_hunks(change)
    chosen = data.draw(st.sets(st.sampled_from(range(len(hunks))))) if hunks else set()
    smaller = reduced(change, chosen)
    if smaller is None:
        return
    edit = edit_for(smaller)  # raises when no edit gives the bytes exactly
    assert edit.path == "f.py"


THREE = b"".join(f"line {n}\n".encode() for n in range(1, 31))


def three_hunk_change(ending: bytes = b"\n", final: bool = True) -> FileChange:
    old = THREE.replace(b"\n", ending)
    new = (old.replace(b"line 2" + ending, b"line two" + ending).replace(b"line 15" + ending, b"")
           .replace(b"line 28" + ending, b"line 28" + ending + b"added" + ending))
    if not final:
        old, new = old.rstrip(b"\r\n"), new.rstrip(b"\r\n")
    return FileChange("f.txt", old, new)


@pytest.mark.parametrize("ending, final", [(b"\n", True), (b"\r\n", True), (b"\r\n", False), (b"\n", False)])
def test_three_hunks_middle_rejected(ending: bytes, final: bool) -> None:
    change = three_hunk_change(ending, final)
    hunks = split_hunks(change)
    assert len(hunks) == 3
    result = accepted_bytes(change, {0, 2})
    expected = change.old_bytes.replace(b"line 2" + ending, b"line two" + ending).replace(
        b"line 28" + ending, b"line 28" + ending + b"added" + ending)
    assert result == expected
    assert hunks[1].diff_lines()[0] == "@@ -12,7 +12,6 @@\n"
    assert "-line 15\n" in hunks[1].diff_lines()


def test_missing_final_newline_is_shown_and_kept() -> None:
    change = FileChange("f.txt", b"a\nb", b"a\nc")
    (hunk,) = split_hunks(change)
    assert "\\ No newline at end of file\n" in "".join(hunk.diff_lines())
    assert accepted_bytes(change, {0}) == b"a\nc"


def test_a_new_file_is_one_hunk() -> None:
    change = FileChange("new.txt", None, b"x\ny\n")
    assert len(split_hunks(change)) == 1
    assert accepted_bytes(change, {0}) == b"x\ny\n"
    assert accepted_bytes(change, set()) is None and reduced(change, set()) is None


def test_accepted_changes_reads_true_false_and_a_subset() -> None:
    change = three_hunk_change()
    other = FileChange("g.txt", b"1\n", b"2\n")
    assert accepted_changes((change, other), True) == (change, other)
    assert accepted_changes((change, other), False) == ()
    smaller = reduced(change, {0})
    assert accepted_changes((change, other), [smaller]) == (smaller,)
    with pytest.raises(ValueError):
        accepted_changes((change,), [FileChange("h.txt", b"", b"x")])


def test_apply_accepted_writes_exactly_and_undo_restores(tmp_path) -> None:
    change = three_hunk_change(b"\r\n", final=False)
    (tmp_path / "f.txt").write_bytes(change.old_bytes)
    smaller = reduced(change, {0, 2})
    report = apply_accepted(tmp_path, [smaller])
    assert report.written == ("f.txt",), report.error
    assert (tmp_path / "f.txt").read_bytes() == smaller.new_bytes
    assert undo(tmp_path).undone
    assert (tmp_path / "f.txt").read_bytes() == change.old_bytes


def test_apply_accepted_refuses_a_file_changed_since(tmp_path) -> None:
    change = three_hunk_change()
    (tmp_path / "f.txt").write_bytes(change.old_bytes + b"more\n")
    report = apply_accepted(tmp_path, [reduced(change, {0})])
    assert not report.written and report.error or not report.ok
    assert (tmp_path / "f.txt").read_bytes() == change.old_bytes + b"more\n"


def test_a_gained_final_newline_can_be_written_exactly() -> None:
    change = FileChange("f.py", b"a\na\na", b"a\na\na\n")
    edit = edit_for(change)
    assert edit.replace.endswith("\n\n")
