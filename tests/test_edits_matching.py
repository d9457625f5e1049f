"""SEARCH/REPLACE matching: levels, indentation shifts, ambiguity, no-match hints, byte preservation."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dgcode.edits.errors import EditError, ErrorCode
from dgcode.edits.matching import MatchLevel, nearest_region
from dgcode.edits.search_replace import apply_search_replace
from dgcode.edits.textfile import CRLF, LF, TextFile


def apply(data: bytes, search: str, replace: str) -> tuple[bytes, MatchLevel | None]:
    result = apply_search_replace(TextFile.from_bytes(data), search, replace, path="f.py")
    return result.text_file.to_bytes(), result.level


def refuse(data: bytes, search: str, replace: str = "") -> EditError:
    with pytest.raises(EditError) as caught:
        apply(data, search, replace)
    return caught.value


def test_exact() -> None:
    assert apply(b"a\nb\nc\n", "b\n", "B\n") == (b"a\nB\nc\n", MatchLevel.EXACT)


def test_trailing_whitespace_level_keeps_unchanged_lines_bytes() -> None:
    data = b"def f():  \n    x = 1\t\n    return x\n"
    new, level = apply(data, "def f():\n    x = 1\n    return x\n", "def f():\n    x = 2\n    return x\n")
    assert level is MatchLevel.TRAILING_WHITESPACE
    assert new == b"def f():  \n    x = 2\n    return x\n"


def test_indentation_added_with_tabs_uses_files_characters() -> None:
    data = b"class A:\n\tdef f(self):\n\t\treturn 1\n"
    new, level = apply(data, "def f(self):\n\treturn 1\n", "def f(self):\n\tif True:\n\t\treturn 2\n")
    assert level is MatchLevel.INDENTATION
    assert new == b"class A:\n\tdef f(self):\n\t\tif True:\n\t\t\treturn 2\n"


def test_indentation_removed() -> None:
    data = b"def f():\n    return 1\n\nx = f()\n"
    search = "        def f():\n            return 1\n"
    replace = "        def f():\n            return 2\n\n        def g():\n            pass\n"
    new, level = apply(data, search, replace)
    assert level is MatchLevel.INDENTATION
    assert new == b"def f():\n    return 2\n\ndef g():\n    pass\n\nx = f()\n"


def test_indentation_shift_must_be_uniform() -> None:
    data = b"if x:\n    a()\n    b()\n"
    error = refuse(data, "if x:\n  a()\n  b()\n")
    assert error.code is ErrorCode.NO_MATCH


def test_no_tab_space_conversion() -> None:
    error = refuse(b"\tx = 1\n", "    x = 1\n")
    assert error.code is ErrorCode.NO_MATCH


@pytest.mark.parametrize(
    "data, search, lines",
    [
        (b"x = 1\ny\nx = 1\n", "x = 1\n", "line 1 (exact), line 3 (exact)"),
        (b"x = 1  \ny\nx = 1\t\n", "x = 1\n", "line 1 (trailing_whitespace), line 3 (trailing_whitespace)"),
        (b"\ta\n\tb\nc\n\t\ta\n\t\tb\n", "a\nb\n", "lines 1-2 (indentation), lines 4-5 (indentation)"),
        (b"a\na\na\n", "a\na\n", "lines 1-2 (exact), lines 2-3 (exact)"),
    ],
)
def test_ambiguity_refused_at_every_level(data: bytes, search: str, lines: str) -> None:
    error = refuse(data, search, "z\n")
    assert error.code is ErrorCode.AMBIGUOUS
    assert lines in str(error)
    assert "Refusing to guess" in str(error)


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"x = 1\ny\nx = 1  \n", b"z\ny\nx = 1  \n"),
        (b"x = 1\n    x = 1\n", b"z\n    x = 1\n"),
        (b"def f():\n    x = 1\nx = 1\n", b"def f():\n    x = 1\nz\n"),
    ],
)
def test_one_exact_match_is_taken_beside_looser_ones_elsewhere(data: bytes, expected: bytes) -> None:
    assert apply(data, "x = 1\n", "z\n") == (expected, MatchLevel.EXACT)


def test_no_match_names_nearest_region() -> None:
    data = b"".join(f"line {n}\n".encode() for n in range(1, 21))
    error = refuse(data, "line 11\nline 12\nline twelve and a half\nline 13\n")
    assert error.code is ErrorCode.NO_MATCH
    message = str(error)
    assert "Nearest region: lines 11-14 (2 of 4 SEARCH lines found there)" in message
    assert "    11 | line 11" in message and "    14 | line 14" in message
    assert "First difference at line 13: file has 'line 13', SEARCH has 'line twelve and a half'." in message


def test_no_match_with_nothing_in_common() -> None:
    message = str(refuse(b"a\nb\n", "zzz\n"))
    assert "No line of the SEARCH text occurs in f.py" in message


def test_nearest_region_is_deterministic_on_ties() -> None:
    file_lines = ("x", "y", "q", "x", "y")
    region = nearest_region(file_lines, ["x", "y", "z"])
    assert region is not None and (region.start, region.stop, region.votes) == (0, 3, 2)


def test_empty_search_creates_or_refuses() -> None:
    created = apply_search_replace(None, "", "a\nb\n", path="new.py")
    assert created.text_file.to_bytes() == b"a\nb\n" and created.level is None
    assert apply(b"", "", "x\n") == (b"x\n", None)
    error = refuse(b"content\n", "")
    assert error.code is ErrorCode.NOT_EMPTY


def test_missing_file_with_search_is_refused() -> None:
    with pytest.raises(EditError) as caught:
        apply_search_replace(None, "x\n", "y\n", path="gone.py")
    assert caught.value.code is ErrorCode.MISSING_FILE


def test_crlf_file_and_bom_and_final_newline_kept() -> None:
    data = b"\xef\xbb\xbfa\r\nb\r\nc"
    assert apply(data, "b\n", "B\nB2\n")[0] == b"\xef\xbb\xbfa\r\nB\r\nB2\r\nc"
    assert apply(data, "c\n", "C\n")[0] == b"\xef\xbb\xbfa\r\nb\r\nC"
    assert apply(data, "b\nc\n", "")[0] == b"\xef\xbb\xbfa"


def test_deleting_lines() -> None:
    assert apply(b"a\nb\nc\n", "b\n", "")[0] == b"a\nc\n"


def test_search_must_be_whole_lines() -> None:
    assert refuse(b"abc\n", "b\n").code is ErrorCode.NO_MATCH


LINE = st.text(alphabet=st.sampled_from(list("ab \t")), max_size=4)


@st.composite
def file_and_run(draw: st.DrawFn) -> tuple[bytes, int, int]:
    """A mixed-ending file and a run of its lines ``start:stop``."""
    texts = draw(st.lists(LINE, min_size=1, max_size=10))
    endings = [draw(st.sampled_from([LF, CRLF])) for _ in texts]
    if draw(st.booleans()):
        endings[-1] = ""
        assume(texts[-1] != "")
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    data = bom + "".join(t + e for t, e in zip(texts, endings, strict=True)).encode()
    start = draw(st.integers(0, len(texts) - 1))
    stop = draw(st.integers(start + 1, len(texts)))
    return data, start, stop


def _run_text(text_file: TextFile, start: int, stop: int) -> str:
    return "".join(line + "\n" for line in text_file.texts[start:stop])


@settings(max_examples=400, deadline=None)
@given(file_and_run())
def test_no_op_edit_gives_identical_bytes(case: tuple[bytes, int, int]) -> None:
    data, start, stop = case
    text_file = TextFile.from_bytes(data)
    run = _run_text(text_file, start, stop)
    try:
        result = apply_search_replace(text_file, run, run, path="f")
    except EditError as error:
        assert error.code is ErrorCode.AMBIGUOUS
        return
    assert result.text_file.to_bytes() == data
    assert (result.match.start, result.match.stop) == (start, stop)


@settings(max_examples=400, deadline=None)
@given(file_and_run(), st.lists(st.text(alphabet="xyz\t ", max_size=4), max_size=4))
def test_edit_changes_only_lines_inside_the_match(case: tuple[bytes, int, int], new_texts: list[str]) -> None:
    data, start, stop = case
    text_file = TextFile.from_bytes(data)
    run = _run_text(text_file, start, stop)
    replace = "".join(text + "\n" for text in new_texts)
    try:
        result = apply_search_replace(text_file, run, replace, path="f")
    except EditError as error:
        assert error.code is ErrorCode.AMBIGUOUS
        return
    old, new = text_file.lines, result.text_file.lines
    assert result.text_file.bom == text_file.bom
    assert new[:start] == old[:start] or (
        # deleting the end of a file without a final newline drops the new last line's ending
        stop == len(old)
        and not text_file.ends_with_newline
        and new[: start - 1] == old[: start - 1]
        and new[start - 1].text == old[start - 1].text
        and new[start - 1].ending == ""
    )
    tail = len(old) - stop
    assert new[len(new) - tail :] == old[stop:] if tail else True
    assert result.text_file.ends_with_newline == text_file.ends_with_newline or not new
    middle = new[start : len(new) - tail]
    assert [line.text for line in middle] == new_texts


def test_ambiguity_message_is_bounded() -> None:
    message = str(refuse(b"x\n" * 500, "x\n"))
    assert "matches 500 places" in message and "and 490 more" in message
    assert len(message) < 600
