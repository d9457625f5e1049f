"""Which lines `dgcode edit` rewrites: ``FILE:START-END``, ``FILE:LINE`` or ``FILE::name``, read and checked.

``parse_target`` splits what the person wrote; ``resolve_target`` finds the
file inside the repository (``context.sources.resolve_path``), reads it once
with a snapshot (so an apply refuses a file changed since), decodes it
strictly (``edits.textfile.TextFile``) and turns the range, or the named
definition (``context.definitions``), into 1-based inclusive lines.  Every
way a target can be wrong is a ``ContextError`` with the reason: no such
file, a folder, outside the repository, binary or not UTF-8, a range that
does not parse, ends before it starts or lies outside the file, an unknown or
ambiguous name, a language without a grammar; nothing is read twice and
nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dgcode.context.definitions import resolve_definition
from dgcode.context.errors import ContextError
from dgcode.context.sources import LineRange, parse_file_spec, resolve_path
from dgcode.edits.atomic import FileSnapshot, read_with_snapshot
from dgcode.edits.errors import EditError
from dgcode.edits.textfile import TextFile

MAX_FILE_BYTES = 1 << 20
TARGET_HINT = "name the lines to rewrite: FILE:START-END, FILE:LINE or FILE::name (a function or class)"


@dataclass(frozen=True)
class TargetSpec:
    """A target as written: a path, and either a line range or a definition's name."""

    spec: str
    path: str
    lines: LineRange | None = None
    name: str | None = None


@dataclass(frozen=True)
class RangeTarget:
    """A resolved target: the file (repo-relative), its lines start..end (1-based, inclusive), what was read."""

    spec: str
    path: str
    start: int
    end: int
    text_file: TextFile
    snapshot: FileSnapshot
    name: str | None = None
    """The definition's qualified name for ``FILE::name``."""
    category: str | None = None

    def describe(self) -> str:
        lines = f"line {self.start}" if self.start == self.end else f"lines {self.start}-{self.end}"
        return f"{self.path} {lines}" + (f" ({self.category} {self.name})" if self.name else "")

    def to_json(self) -> dict[str, object]:
        return {"spec": self.spec, "file": self.path, "start": self.start, "end": self.end, "name": self.name,
                "kind": self.category, "lines_in_file": len(self.text_file.lines)}


def parse_target(spec: str) -> TargetSpec:
    """Split ``FILE::name``, ``FILE:START-END`` or ``FILE:LINE`` (no range, no name: a whole file, which
    ``resolve_target`` refuses); ContextError for a range that does not parse."""
    if not spec or not spec.strip():
        raise ContextError(f"empty target; {TARGET_HINT}")
    head, sep, name = spec.partition("::")
    if sep:
        if not head:
            raise ContextError(f"{spec!r} names no file before '::'; {TARGET_HINT}")
        if not name.strip() or any(c.isspace() for c in name.strip()):
            raise ContextError(f"{spec!r}: after '::' comes the name of a function or class, e.g. {head}::main")
        return TargetSpec(spec, head, name=name.strip())
    parsed = parse_file_spec(spec)
    return TargetSpec(spec, parsed.path, lines=parsed.lines)


def resolve_target(root: Path, spec: str, cwd: Path | None = None) -> RangeTarget:
    """The target read and checked against the file (see the module docstring); raises ContextError."""
    parsed = parse_target(spec)
    relative, real = resolve_path(root, parsed.path, cwd)  # "a.py:x-y" is a bad range when a.py exists
    if parsed.lines is None and parsed.name is None:
        raise ContextError(f"{spec!r} names a whole file; {TARGET_HINT}")
    try:
        data, snapshot = read_with_snapshot(real, max_bytes=MAX_FILE_BYTES)
        text_file = TextFile.from_bytes(data, name=relative, max_bytes=MAX_FILE_BYTES)
    except EditError as error:
        raise ContextError(f"cannot rewrite {relative}: {error}") from None
    total = len(text_file.lines)
    if total == 0:
        raise ContextError(f"{relative} is empty: there are no lines to rewrite")
    if parsed.name is not None:
        found = resolve_definition(relative, data, parsed.name)
        return RangeTarget(spec, relative, found.start, found.end, text_file, snapshot, found.name, found.category)
    lines = parsed.lines
    assert lines is not None
    if lines.end > total:
        raise ContextError(f"bad line range {lines} for {relative}: the file has {total} line(s), "
                           f"so a range must lie within 1-{total}")
    return RangeTarget(spec, relative, lines.start, lines.end, text_file, snapshot)
