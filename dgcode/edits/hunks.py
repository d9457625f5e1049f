"""Per-hunk acceptance: a FileChange cut into hunks, rebuilt from a chosen subset, and applied exactly.

``split_hunks`` cuts a change into the hunks its unified diff shows
(``DIFF_CONTEXT`` lines of context, so changes closer than that are one
hunk).  Lines are the file's own bytes cut after each ``\\n`` (the lines
``TextFile`` sees: a ``\\r\\n`` ends a line, a lone ``\\r`` is text), so every
byte and line ending, a BOM and a missing final newline are kept exactly.
``accepted_bytes`` is the old bytes with only the chosen hunks' new lines put
in; a rejected hunk keeps the old lines.

A confirm step (``dgcode fix``, ``dgcode edit``, the TUI review) answers
``True`` (every change), ``False`` (none) or the accepted changes, some with
reduced new bytes; ``accepted_changes`` reads any of the three.  Applying a
reduced change goes through the normal transaction (``apply_accepted``): one
line-range ``InfillEdit`` per file, from its first to its last changed line,
planned against what was read (stale files refused), journaled and
snapshotted, so ``dgcode undo`` reverts it; an edit that would not give
exactly the accepted bytes is refused and nothing is written.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dgcode.edits.apply import ApplyReport, apply_edits
from dgcode.edits.atomic import FileSnapshot, sha256_hex
from dgcode.edits.diff import DIFF_CONTEXT, FileChange
from dgcode.edits.errors import EditError, ErrorCode
from dgcode.edits.infill import InfillEdit, apply_infill
from dgcode.edits.parser import WholeFileEdit
from dgcode.edits.textfile import TextFile
from dgcode.edits.wholefile import replace_whole_file

Accepted = bool | Sequence[FileChange]
"""What a confirm step answers: True (all), False (nothing), or the accepted changes."""


def byte_lines(data: bytes | None) -> tuple[bytes, ...]:
    """``data`` cut after each ``\\n``, every line with its own ending (a last line may have none)."""
    if not data:
        return ()
    parts = data.split(b"\n")
    return tuple(part + b"\n" for part in parts[:-1]) + ((parts[-1],) if parts[-1] else ())


@dataclass(frozen=True)
class Hunk:
    """One hunk: old lines ``old_start:old_stop`` become new lines ``new_start:new_stop`` (0-based, end excluded).

    The ranges cover the changed lines only (and the unchanged lines between
    changes close enough to be one hunk), not the context shown around them.
    """

    index: int
    old_start: int
    old_stop: int
    new_start: int
    new_stop: int
    old_lines: tuple[bytes, ...]
    new_lines: tuple[bytes, ...]
    before: tuple[bytes, ...] = ()
    """Context lines shown above the hunk."""
    after: tuple[bytes, ...] = ()
    """Context lines shown below the hunk."""

    @property
    def header(self) -> str:
        """The ``@@ -a,b +c,d @@`` line of the hunk as shown with its context."""
        old_first = self.old_start - len(self.before)
        new_first = self.new_start - len(self.before)
        old_count = self.old_stop - self.old_start + len(self.before) + len(self.after)
        new_count = self.new_stop - self.new_start + len(self.before) + len(self.after)
        return f"@@ -{_span(old_first, old_count)} +{_span(new_first, new_count)} @@"

    def diff_lines(self) -> list[str]:
        """The hunk as unified diff lines (header, context, ``-`` and ``+`` lines), each ending in ``\\n``."""
        lines = [self.header + "\n"]
        lines += [" " + _shown(line) for line in self.before]
        matcher = difflib.SequenceMatcher(None, self.old_lines, self.new_lines, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                lines += [" " + _shown(line) for line in self.old_lines[i1:i2]]
                continue
            lines += ["-" + _shown(line) for line in self.old_lines[i1:i2]]
            lines += ["+" + _shown(line) for line in self.new_lines[j1:j2]]
        lines += [" " + _shown(line) for line in self.after]
        return lines

    def counts(self) -> tuple[int, int]:
        """Lines added and removed by the hunk."""
        lines = self.diff_lines()[1:]
        return sum(line.startswith("+") for line in lines), sum(line.startswith("-") for line in lines)


def _span(first: int, count: int) -> str:
    start = first + 1 if count else first
    return f"{start}" if count == 1 else f"{start},{count}"


def _shown(line: bytes) -> str:
    text = line.decode("utf-8", "replace").rstrip("\r\n")
    return text + "\n" if line.endswith(b"\n") else text + "\n\\ No newline at end of file\n"


def _opcodes(old: Sequence[bytes], new: Sequence[bytes]) -> list[tuple[str, int, int, int, int]]:
    return difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes()


def split_hunks(change: FileChange) -> tuple[Hunk, ...]:
    """The hunks of ``change``, in file order (none when nothing changed; one for a new file)."""
    old, new = byte_lines(change.old_bytes), byte_lines(change.new_bytes)
    if old == new:
        return ()
    groups: list[list[tuple[str, int, int, int, int]]] = []
    for opcode in _opcodes(old, new):
        if opcode[0] == "equal":
            continue
        if groups and opcode[1] - groups[-1][-1][2] <= 2 * DIFF_CONTEXT:
            groups[-1].append(opcode)
        else:
            groups.append([opcode])
    hunks = []
    for index, group in enumerate(groups):
        old_start, old_stop = group[0][1], group[-1][2]
        new_start, new_stop = group[0][3], group[-1][4]
        before = old[max(0, old_start - DIFF_CONTEXT):old_start]
        after = old[old_stop:old_stop + DIFF_CONTEXT]
        hunks.append(Hunk(index, old_start, old_stop, new_start, new_stop, old[old_start:old_stop],
                          new[new_start:new_stop], before, after))
    return tuple(hunks)


def accepted_bytes(change: FileChange, accepted: Sequence[int] | set[int] | frozenset[int]) -> bytes | None:
    """The old bytes with the hunks numbered in ``accepted`` applied; None when a new file's hunk is rejected."""
    hunks = split_hunks(change)
    chosen = set(accepted)
    if change.old_bytes is None:
        return change.new_bytes if 0 in chosen else None
    old = byte_lines(change.old_bytes)
    out: list[bytes] = []
    position = 0
    for hunk in hunks:
        out.extend(old[position:hunk.old_start])
        out.extend(hunk.new_lines if hunk.index in chosen else hunk.old_lines)
        position = hunk.old_stop
    out.extend(old[position:])
    return b"".join(out)


def reduced(change: FileChange, accepted: Sequence[int] | set[int] | frozenset[int]) -> FileChange | None:
    """``change`` with only the ``accepted`` hunks; None when that changes nothing."""
    new = accepted_bytes(change, accepted)
    if new is None or new == change.old_bytes:
        return None
    return FileChange(change.path, change.old_bytes, new)


def accepted_changes(proposed: Sequence[FileChange], answer: Accepted | None) -> tuple[FileChange, ...]:
    """What a confirm step accepted of ``proposed``: all (True), none (False, None), or the changes it returned.

    Returned changes must be proposed files with the same old bytes (a confirm
    step can narrow a change, never invent one): ValueError otherwise.
    Changes that change nothing are dropped.
    """
    if answer is True:
        return tuple(proposed)
    if answer is False or answer is None:
        return ()
    offered = {change.path: change for change in proposed}
    result = []
    for change in answer:
        original = offered.get(change.path)
        if original is None or original.old_bytes != change.old_bytes:
            raise ValueError(f"the confirm step returned a change to {change.path} that was not proposed")
        if change.new_bytes != change.old_bytes:
            result.append(change)
    return tuple(result)


def is_everything(proposed: Sequence[FileChange], accepted: Sequence[FileChange]) -> bool:
    """Whether ``accepted`` is every proposed change, whole."""
    return {(c.path, c.new_bytes) for c in proposed} == {(c.path, c.new_bytes) for c in accepted}


def _text(lines: Sequence[bytes]) -> str:
    return "".join(line.decode("utf-8").rstrip("\r\n") + "\n" for line in lines)


def _candidates(change: FileChange) -> list[InfillEdit | WholeFileEdit]:
    """Edits that may turn the old bytes into the new: a line range first, the whole file second."""
    old, new = byte_lines(change.old_bytes), byte_lines(change.new_bytes)
    candidates: list[InfillEdit | WholeFileEdit] = []
    if old:
        head = 0
        while head < min(len(old), len(new)) and old[head] == new[head]:
            head += 1
        tail = 0
        while tail < min(len(old), len(new)) - head and old[-1 - tail] == new[-1 - tail]:
            tail += 1
        if head + tail >= len(old):  # a pure insertion: take a neighbouring line into the range
            if tail:
                tail -= 1
            else:
                head -= 1
        candidates.append(InfillEdit(change.path, head + 1, len(old) - tail, _text(old[head:len(old) - tail]),
                                     _text(new[head:len(new) - tail])))
    candidates.append(WholeFileEdit(change.path, _text(new), 1))
    if old and not old[-1].endswith(b"\n") and new and new[-1].endswith(b"\n"):
        # the file gains a final newline: the planner writes that as an empty last line without an ending
        candidates += [InfillEdit(c.path, c.start, c.end, c.expected, c.replace + "\n") if isinstance(c, InfillEdit)
                       else WholeFileEdit(c.path, c.content + "\n", 1) for c in list(candidates)]
    return candidates


def _result(change: FileChange, edit: InfillEdit | WholeFileEdit) -> bytes | None:
    try:
        text_file = None if change.old_bytes is None else TextFile.from_bytes(change.old_bytes, name=change.path)
        if isinstance(edit, InfillEdit):
            return apply_infill(text_file, edit).to_bytes()
        return replace_whole_file(text_file, edit.content, name=change.path).to_bytes()
    except (EditError, UnicodeDecodeError):
        return None


def edit_for(change: FileChange, index: int = 1) -> InfillEdit | WholeFileEdit:
    """An edit that gives exactly ``change.new_bytes`` from its old bytes; EditError when none does."""
    for edit in _candidates(change):
        if _result(change, edit) == change.new_bytes:
            if isinstance(edit, InfillEdit):
                return InfillEdit(edit.path, edit.start, edit.end, edit.expected, edit.replace, index)
            return WholeFileEdit(edit.path, edit.content, index)
    raise EditError(f"the accepted hunks of {change.path} cannot be written exactly as shown; nothing was written",
                    code=ErrorCode.NOT_APPLICABLE, path=change.path)


def apply_accepted(root: str | os.PathLike[str], accepted: Sequence[FileChange], *,
                   read_snapshots: Mapping[str, FileSnapshot] | None = None,
                   dry_run: bool = False) -> ApplyReport:
    """Write exactly the ``accepted`` changes' new bytes, all or none, through ``apply_edits`` (journal, undo).

    Each file's edit is planned against the tree, which must still hold the
    change's old bytes (``read_snapshots`` for the other files); if the plan
    would write anything else, nothing is written and the report says why.
    """
    try:
        edits = [edit_for(change, number) for number, change in enumerate(accepted, start=1)]
    except EditError as error:
        return ApplyReport(Path(os.path.realpath(root)), error=str(error), dry_run=dry_run)
    snapshots = dict(read_snapshots or {})
    for change in accepted:  # the bytes the hunks were cut from, and no others
        if change.old_bytes is not None:
            snapshots[change.path] = FileSnapshot(len(change.old_bytes), 0, sha256_hex(change.old_bytes))
    planned = apply_edits(root, edits, dry_run=True, read_snapshots=snapshots)
    wanted = {(change.path, change.old_bytes, change.new_bytes) for change in accepted}
    if planned.ok and {(c.path, c.old_bytes, c.new_bytes) for c in planned.changes} != wanted:
        return ApplyReport(planned.root, planned.outcomes, changes=planned.changes, dry_run=dry_run,
                           error="nothing was written: the files changed since the review, so the accepted hunks "
                           "no longer give the bytes shown")
    if dry_run or not planned.ok:
        return planned
    return apply_edits(root, edits, read_snapshots=snapshots)
