"""TextFile: byte-exact round trips, line endings, BOM, strict UTF-8, binary and size caps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dgcode.edits.errors import EditError, ErrorCode
from dgcode.edits.textfile import CRLF, LF, TextFile, TextLine, carry_over_unchanged

LINE_TEXT = st.text(alphabet=st.sampled_from(list("ab \t\r") + ["é", "→", "😀"]), max_size=6).filter(
    lambda text: not text.endswith("\r")
)


@st.composite
def file_bytes(draw: st.DrawFn) -> bytes:
    """Bytes of a UTF-8 text file: mixed LF/CRLF, tabs, BOM or not, final newline or not."""
    texts = draw(st.lists(LINE_TEXT, max_size=12))
    endings = [draw(st.sampled_from([LF, CRLF])) for _ in texts]
    if texts and draw(st.booleans()):
        endings[-1] = ""
    body = "".join(text + ending for text, ending in zip(texts, endings, strict=True))
    bom = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    return bom + body.encode("utf-8")


@settings(max_examples=400, deadline=None)
@given(file_bytes())
def test_round_trip_is_byte_identical(data: bytes) -> None:
    assert TextFile.from_bytes(data).to_bytes() == data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_either_round_trip_or_are_refused(data: bytes) -> None:
    try:
        text_file = TextFile.from_bytes(data)
    except EditError as error:
        assert error.code in (ErrorCode.ENCODING, ErrorCode.BINARY)
    else:
        assert text_file.to_bytes() == data


def test_lines_keep_their_own_endings() -> None:
    text_file = TextFile.from_bytes(b"a\r\nb\nc\rd\r\n\r\ne")
    assert text_file.lines == (
        TextLine("a", CRLF),
        TextLine("b", LF),
        TextLine("c\rd", CRLF),
        TextLine("", CRLF),
        TextLine("e", ""),
    )
    assert text_file.newline == CRLF
    assert not text_file.ends_with_newline


def test_dominant_newline_ties_go_to_first_and_default_is_lf() -> None:
    assert TextFile.from_bytes(b"a\nb\r\n").newline == LF
    assert TextFile.from_bytes(b"a\r\nb\n").newline == CRLF
    assert TextFile.from_bytes(b"single").newline == LF
    assert TextFile.from_bytes(b"").lines == ()


def test_bom_is_kept_and_not_part_of_text() -> None:
    text_file = TextFile.from_bytes(b"\xef\xbb\xbfx = 1\n")
    assert text_file.bom and text_file.texts == ("x = 1",)
    assert text_file.to_bytes() == b"\xef\xbb\xbfx = 1\n"


def test_invalid_utf8_is_refused_not_reencoded() -> None:
    with pytest.raises(EditError) as caught:
        TextFile.from_bytes(b"caf\xe9\n", name="latin1.txt")
    assert caught.value.code is ErrorCode.ENCODING
    assert "latin1.txt is not valid UTF-8 (byte 0xe9 at offset 3)" in str(caught.value)


def test_binary_and_size_cap() -> None:
    with pytest.raises(EditError, match="looks like a binary file") as caught:
        TextFile.from_bytes(b"PK\x03\x04\x00\x00", name="x.zip")
    assert caught.value.code is ErrorCode.BINARY
    assert TextFile.from_bytes(b"a" * 8000 + b"\x00", max_bytes=10_000).to_bytes().endswith(b"\x00")
    with pytest.raises(EditError, match="over the 10-byte limit") as caught:
        TextFile.from_bytes(b"a" * 11, name="big.txt", max_bytes=10)
    assert caught.value.code is ErrorCode.TOO_LARGE


def test_splice_uses_dominant_ending_and_keeps_missing_final_newline() -> None:
    text_file = TextFile.from_bytes(b"a\r\nb\r\nc")
    assert text_file.splice(1, 2, ["B", "B2"]).to_bytes() == b"a\r\nB\r\nB2\r\nc"
    assert text_file.splice(2, 3, ["C", "D"]).to_bytes() == b"a\r\nb\r\nC\r\nD"
    assert text_file.splice(1, 3, []).to_bytes() == b"a"
    carried = text_file.splice(2, 3, [text_file.lines[2], "d"])
    assert carried.to_bytes() == b"a\r\nb\r\nc\r\nd"


def test_carry_over_keeps_unchanged_line_bytes() -> None:
    old = (TextLine("x  ", CRLF), TextLine("y", LF))
    lines = carry_over_unchanged(old, ["x", "y"], ["x", "new", "y"], str.upper)
    assert lines == [TextLine("x  ", CRLF), "NEW", TextLine("y", LF)]


def test_from_text_builds_new_files() -> None:
    assert TextFile.from_text("a\nb\n").to_bytes() == b"a\nb\n"
    assert TextFile.from_text("a\nb", newline=CRLF).to_bytes() == b"a\r\nb"
    assert TextFile.from_text("").to_bytes() == b""
