"""TextFile: a bytes-preserving model of a UTF-8 text file, line by line.

A file is a tuple of lines, each holding its text and its own line ending
(``"\\n"``, ``"\\r\\n"``, or ``""`` for a last line without one), plus whether
the file starts with a UTF-8 BOM.  ``TextFile.from_bytes(data).to_bytes()``
gives back ``data`` byte for byte.  Decoding is strict: a file that is not
UTF-8, looks binary, or is over the size cap raises ``EditError`` and is never
re-encoded lossily (RELIABILITY #10, #11, #12).  A lone ``"\\r"`` is part of a
line's text, not a line ending.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import NamedTuple

from dgcode.edits.errors import EditError, ErrorCode

UTF8_BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_BYTES = 1_000_000
BINARY_SNIFF_BYTES = 8000
LF = "\n"
CRLF = "\r\n"


class TextLine(NamedTuple):
    """One line: its text without the ending, and the ending itself."""

    text: str
    ending: str


def check_text_bytes(data: bytes, *, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """Raise EditError if ``data`` is over ``max_bytes`` or looks binary."""
    if len(data) > max_bytes:
        raise EditError(
            f"{name} is {len(data):,} bytes, over the {max_bytes:,}-byte limit for edits; skipped",
            code=ErrorCode.TOO_LARGE,
            path=name,
        )
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise EditError(
            f"{name} looks like a binary file (NUL byte in its first {BINARY_SNIFF_BYTES:,} bytes); skipped",
            code=ErrorCode.BINARY,
            path=name,
        )


def split_lines(text: str) -> tuple[TextLine, ...]:
    """Split ``text`` into lines, each keeping its own LF or CRLF ending."""
    lines: list[TextLine] = []
    for chunk in text.split(LF):
        if chunk.endswith("\r"):
            lines.append(TextLine(chunk[:-1], CRLF))
        else:
            lines.append(TextLine(chunk, LF))
    last = lines.pop()  # the text after the final "\n" (possibly empty)
    if last.text or last.ending == CRLF:
        # A trailing "\r" with no "\n" after it belongs to the text.
        text_of_last = last.text + ("\r" if last.ending == CRLF else "")
        lines.append(TextLine(text_of_last, ""))
    return tuple(lines)


def dominant_newline(lines: tuple[TextLine, ...]) -> str:
    """The ending most lines use; ties go to the first line's; LF when none."""
    crlf = sum(1 for line in lines if line.ending == CRLF)
    lf = sum(1 for line in lines if line.ending == LF)
    if crlf != lf:
        return CRLF if crlf > lf else LF
    for line in lines:
        if line.ending:
            return line.ending
    return LF


@dataclass(frozen=True)
class TextFile:
    """The decoded lines of a file plus what is needed to write it back exactly."""

    lines: tuple[TextLine, ...]
    bom: bool = False

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "file", max_bytes: int = DEFAULT_MAX_BYTES) -> TextFile:
        """Decode ``data`` strictly as UTF-8 (BOM allowed), or raise EditError."""
        check_text_bytes(data, name=name, max_bytes=max_bytes)
        bom = data.startswith(UTF8_BOM)
        body = data[len(UTF8_BOM) :] if bom else data
        try:
            text = body.decode("utf-8", errors="strict")
        except UnicodeDecodeError as error:
            offset = error.start + (len(UTF8_BOM) if bom else 0)
            bad = body[error.start : error.start + 1].hex()
            raise EditError(
                f"{name} is not valid UTF-8 (byte 0x{bad} at offset {offset}); "
                "dgcode only edits UTF-8 text and will not re-encode it",
                code=ErrorCode.ENCODING,
                path=name,
            ) from None
        return cls(split_lines(text), bom)

    @classmethod
    def from_text(cls, text: str, *, newline: str = LF, bom: bool = False) -> TextFile:
        """Build a new file from ``"\\n"``-separated text, ending lines with ``newline``."""
        lines = split_lines(text.replace(CRLF, LF))
        return cls(tuple(TextLine(line.text, newline if line.ending else "") for line in lines), bom)

    def to_bytes(self) -> bytes:
        """The exact bytes of the file."""
        body = "".join(line.text + line.ending for line in self.lines).encode("utf-8")
        return UTF8_BOM + body if self.bom else body

    @property
    def texts(self) -> tuple[str, ...]:
        """Each line's text, without its ending."""
        return tuple(line.text for line in self.lines)

    @property
    def newline(self) -> str:
        """The file's dominant line ending, used for lines dgcode writes."""
        return dominant_newline(self.lines)

    @property
    def ends_with_newline(self) -> bool:
        """Whether the last line has a line ending (False for an empty file)."""
        return bool(self.lines) and self.lines[-1].ending != ""

    def splice(self, start: int, stop: int, new_lines: Sequence[TextLine | str]) -> TextFile:
        """Replace lines ``start:stop`` with ``new_lines``.

        A ``TextLine`` is kept as it is (a line carried over from the file); a
        ``str`` is new text and gets the dominant ending.  Lines outside the
        range keep their bytes, with one exception that keeps the file's shape:
        the last line has no ending exactly when the old last line had none
        and the range reached the end (so deleting the last lines of such a
        file also drops the new last line's ending), and a carried-over line
        that is no longer last gets an ending.
        """
        if not 0 <= start <= stop <= len(self.lines):
            raise ValueError(f"bad line range {start}:{stop} for {len(self.lines)} lines")
        newline = self.newline
        middle = [line if isinstance(line, TextLine) else TextLine(line, newline) for line in new_lines]
        lines = [*self.lines[:start], *middle, *self.lines[stop:]]
        for position in range(len(lines) - 1):
            if not lines[position].ending:  # the old last line, no longer last
                lines[position] = TextLine(lines[position].text, newline)
        if lines and stop == len(self.lines):
            keep_missing = bool(self.lines) and not self.ends_with_newline
            last = lines[-1]
            lines[-1] = TextLine(last.text, "" if keep_missing else (last.ending or newline))
        return TextFile(tuple(lines), self.bom)


def carry_over_unchanged(
    old_lines: Sequence[TextLine],
    before: Sequence[str],
    after: Sequence[str],
    rewrite: Callable[[str], str] = lambda text: text,
) -> list[TextLine | str]:
    """The lines for ``after``, reusing ``old_lines`` wherever the edit left a line alone.

    ``before`` is the model's view of ``old_lines`` (one text per line, maybe
    with different whitespace); lines that a diff of ``before`` against
    ``after`` marks equal are copied from ``old_lines`` byte for byte, and the
    others are ``rewrite(text)`` as new text.
    """
    matcher = SequenceMatcher(None, list(before), list(after), autojunk=len(before) > 2000)
    result: list[TextLine | str] = []
    for tag, old_start, old_stop, new_start, new_stop in matcher.get_opcodes():
        if tag == "equal":
            result.extend(old_lines[old_start:old_stop])
        else:
            result.extend(rewrite(text) for text in after[new_start:new_stop])
    return result
