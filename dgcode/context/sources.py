"""Editor context: the files, selection, git state and instruction a request is about.

``gather_context`` turns what the person (or the editor) named into an
``EditorContext``:

- files, whole or as line ranges (``src/a.py:10-40``, ``src/a.py:7``), given
  relative to ``cwd`` or absolute, and required to lie inside the repository;
- a selection: a path with a line range, and the selected text (read from the
  file when the editor does not send its own buffer);
- the git state (see gitstate.py) and the instruction itself.

A request that cannot be right raises ``ContextError`` (a range that does not
parse or lies past the end of the file, a path outside the repository or in
``.git/``, a missing file or a folder).  Content that must not or cannot be
sent is left out with one note each: ignored files (.gitignore, .dgcodeignore;
see ignore.py), binary files (a NUL in the first 8,000 bytes), files over the
size cap, and files that are not UTF-8.  Memory stays bounded: a file is read
only after its size is checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dgcode.context.errors import ContextError
from dgcode.context.gitcli import repo_root
from dgcode.context.gitstate import DEFAULT_MAX_DIFF_CHARS, GitState, read_git_state
from dgcode.context.ignore import IgnoreRules

DEFAULT_MAX_FILE_BYTES = 200_000
BINARY_SNIFF_BYTES = 8000
UTF8_BOM = b"\xef\xbb\xbf"
RANGE_RE = re.compile(r"(\d+)(?:-(\d+))?")
RANGE_HINT = "use PATH:LINE or PATH:START-END with 1-based line numbers, e.g. src/a.py:10-40"


@dataclass(frozen=True)
class LineRange:
    """Lines ``start`` to ``end`` of a file, 1-based and inclusive."""

    start: int
    end: int

    def __str__(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"


@dataclass(frozen=True)
class FileSpec:
    """A file as the person wrote it: a path and, optionally, a line range."""

    path: str
    lines: LineRange | None = None


@dataclass(frozen=True)
class ContextFile:
    """A file (or part of one) that goes into the prompt; ``text`` uses ``\\n`` line endings."""

    path: str
    """Repo-relative, ``/``-separated."""
    text: str
    lines: LineRange | None = None
    """None for the whole file."""
    total_lines: int = 0


@dataclass(frozen=True)
class Selection:
    """Text selected in the editor, and where it is."""

    path: str
    lines: LineRange
    text: str


@dataclass(frozen=True)
class Skipped:
    """A file left out of the context, and why."""

    path: str
    reason: str

    @property
    def message(self) -> str:
        return f"{self.path}: {self.reason}; left out"


@dataclass(frozen=True)
class EditorContext:
    """Everything a request is about, checked and ready for the prompt."""

    root: Path
    files: tuple[ContextFile, ...] = ()
    selection: Selection | None = None
    git: GitState | None = None
    instruction: str = ""
    skipped: tuple[Skipped, ...] = ()

    @property
    def notes(self) -> list[str]:
        """Messages for the person: every file left out, every diff cut."""
        return [s.message for s in self.skipped] + list(self.git.notes if self.git else ())


def parse_line_range(text: str, *, spec: str = "") -> LineRange:
    """``"7"`` or ``"10-40"`` as a LineRange; ContextError with a hint for anything else."""
    shown = spec or text
    match = RANGE_RE.fullmatch(text.strip())
    if not match:
        raise ContextError(f"bad line range {text!r} in {shown!r}: {RANGE_HINT}")
    start = int(match.group(1))
    end = int(match.group(2)) if match.group(2) else start
    if start < 1:
        raise ContextError(f"bad line range {text!r} in {shown!r}: line numbers start at 1")
    if end < start:
        raise ContextError(f"bad line range {text!r} in {shown!r}: it ends (line {end}) before it starts (line {start})")
    return LineRange(start, end)


def parse_file_spec(spec: str) -> FileSpec:
    """Split ``path[:range]``; a suffix after the last ``:`` that starts with a digit or ``-`` is a range."""
    if not spec or not spec.strip():
        raise ContextError("empty file name")
    head, sep, tail = spec.rpartition(":")
    if sep and head and (tail == "" or re.match(r"[\d\s-]", tail)):
        return FileSpec(head, parse_line_range(tail, spec=spec))
    return FileSpec(spec)


def resolve_path(root: Path, raw: str, cwd: str | os.PathLike[str] | None = None) -> tuple[str, Path]:
    """``raw`` (relative to ``cwd``, default the root, or absolute) as (repo-relative, absolute real path)."""
    real_root = Path(os.path.realpath(root))
    candidate = Path(raw) if os.path.isabs(raw) else Path(cwd or root) / raw
    real = Path(os.path.realpath(candidate))
    if real != real_root and real_root not in real.parents:
        raise ContextError(f"{raw!r} is outside the repository ({real_root}); only files inside it can be sent")
    relative = real.relative_to(real_root).as_posix()
    if relative.split("/")[0] == ".git":
        raise ContextError(f"{raw!r} is inside .git/, which dgcode never reads into a prompt")
    if not real.exists():
        head, colon, tail = raw.rpartition(":")
        if colon and head and os.path.isfile(Path(cwd or root) / head):
            raise ContextError(f"bad line range {tail!r} in {raw!r}: {RANGE_HINT}")
        raise ContextError(f"{raw!r}: no such file in the repository")
    if not real.is_file():
        raise ContextError(f"{raw!r} is a folder or special file, not a file; name the files in it instead")
    return relative, real


def read_text(path: Path, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> tuple[str | None, str | None]:
    """A file's text with ``\\n`` endings and no BOM, or (None, why it cannot be sent)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, f"{size:,} bytes, over the {max_bytes:,}-byte limit"
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        return None, f"cannot be read ({error.strerror or error})"
    if len(data) > max_bytes:  # grew since the stat
        return None, f"over the {max_bytes:,}-byte limit"
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None, f"looks binary (NUL byte in its first {BINARY_SNIFF_BYTES:,} bytes)"
    body = data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, f"not valid UTF-8 (byte 0x{body[error.start:error.start + 1].hex()} at offset {error.start})"
    return text.replace("\r\n", "\n"), None


def split_text_lines(text: str) -> list[str]:
    """The lines of ``text``, without endings; a final newline does not start another line."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def cut_lines(text: str, lines: LineRange, *, path: str) -> tuple[str, int]:
    """The text of ``lines`` (ending in a newline) and the file's line count; ContextError past the end."""
    all_lines = split_text_lines(text)
    if lines.end > len(all_lines):
        raise ContextError(f"bad line range {lines} for {path}: the file has {len(all_lines)} line(s)")
    return "".join(line + "\n" for line in all_lines[lines.start - 1 : lines.end]), len(all_lines)


class _Reader:
    """Resolves, checks and reads named files for one gather, remembering what was left out."""

    def __init__(self, root: Path, rules: IgnoreRules, cwd, max_bytes: int):
        self.root, self.rules, self.cwd, self.max_bytes = root, rules, cwd, max_bytes
        self.skipped: list[Skipped] = []

    def resolve_all(self, specs: Sequence[FileSpec]) -> list[tuple[FileSpec, str, Path]]:
        resolved = [(spec, *resolve_path(self.root, spec.path, self.cwd)) for spec in specs]
        ignored = self.rules.reasons(dict.fromkeys(rel for _, rel, _ in resolved))
        kept = []
        for spec, rel, real in resolved:
            if rel in ignored:
                self._skip(rel, ignored[rel])
            else:
                kept.append((spec, rel, real))
        return kept

    def read(self, rel: str, real: Path) -> str | None:
        text, why = read_text(real, max_bytes=self.max_bytes)
        if why:
            self._skip(rel, why)
        return text

    def _skip(self, rel: str, why: str) -> None:
        if all(s.path != rel or s.reason != why for s in self.skipped):
            self.skipped.append(Skipped(rel, why))


def gather_context(root: str | os.PathLike[str], *, files: Sequence[str | FileSpec] = (),
                   selection: str | FileSpec | None = None, selection_text: str | None = None,
                   instruction: str = "", include_git: bool = True, cwd: str | os.PathLike[str] | None = None,
                   max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                   max_diff_chars: int = DEFAULT_MAX_DIFF_CHARS) -> EditorContext:
    """Check and read everything a request names; see the module docstring for what is left out."""
    top = repo_root(root)
    rules = IgnoreRules(top)
    reader = _Reader(top, rules, cwd, max_file_bytes)
    specs = [s if isinstance(s, FileSpec) else parse_file_spec(s) for s in files]
    seen: set[tuple[str, LineRange | None]] = set()
    chosen: list[ContextFile] = []
    for spec, rel, real in reader.resolve_all(specs):
        if (rel, spec.lines) in seen or (rel, None) in seen:
            continue
        text = reader.read(rel, real)
        if text is None:
            continue
        seen.add((rel, spec.lines))
        if spec.lines is None:
            chosen.append(ContextFile(rel, text, None, len(split_text_lines(text))))
        else:
            part, total = cut_lines(text, spec.lines, path=rel)
            chosen.append(ContextFile(rel, part, spec.lines, total))
    whole = {f.path for f in chosen if f.lines is None}
    chosen = [f for f in chosen if f.lines is None or f.path not in whole]  # a whole file covers its ranges
    picked = _selection(reader, selection, selection_text)
    git = read_git_state(top, rules, max_diff_chars=max_diff_chars) if include_git else None
    return EditorContext(top, tuple(chosen), picked, git, instruction, tuple(reader.skipped))


def _selection(reader: _Reader, selection: str | FileSpec | None, text: str | None) -> Selection | None:
    if selection is None:
        return None
    spec = selection if isinstance(selection, FileSpec) else parse_file_spec(selection)
    if spec.lines is None:
        raise ContextError(f"selection {spec.path!r} has no line range: {RANGE_HINT}")
    kept = reader.resolve_all([spec])
    if not kept:
        return None
    _, rel, real = kept[0]
    if text is None:
        whole = reader.read(rel, real)
        if whole is None:
            return None
        text, _ = cut_lines(whole, spec.lines, path=rel)
    return Selection(rel, spec.lines, text.replace("\r\n", "\n"))


def readable_named_files(root: Path, specs: Sequence[str], cwd: str | os.PathLike[str] | None = None) -> set[str]:
    """The repo-relative files that ``specs`` (PATH or PATH:RANGE) name; ContextError for a path that cannot be
    used or a file that cannot be read (never a silent skip, RELIABILITY #24)."""
    named = set()
    for raw in specs:
        relative, real = resolve_path(root, parse_file_spec(raw).path, cwd)
        try:
            os.close(os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)))
        except OSError as error:
            raise ContextError(f"cannot read {relative}: {error.strerror or error}") from None
        named.add(relative)
    return named
