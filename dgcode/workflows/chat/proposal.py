"""Proposed edits: a model answer checked in a dry run, grouped by file, and cut down to the files accepted.

Pure Python (no textual). ``propose`` plans the answer's SEARCH/REPLACE
blocks with ``apply_response(dry_run=True)`` and gives one ``FileProposal``
per file: its change (bytes before and after), or why its edits cannot apply. A file
can be accepted only when every edit to it applies, because an apply is all
or nothing. ``response_for`` rewrites the answer to hold only the accepted
files' blocks, so the real apply goes through ``apply_response`` unchanged
(snapshot, journal, undo).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from dgcode.edits.apply import apply_response
from dgcode.edits.atomic import FileSnapshot
from dgcode.edits.diff import FileChange
from dgcode.edits.parser import SearchReplaceEdit

NO_EDITS = "the response contains no edits"


@dataclass(frozen=True)
class FileProposal:
    """What the answer would do to one file."""

    path: str
    change: FileChange | None
    """The file's bytes before and after; None when its edits cannot apply."""
    edits: tuple[SearchReplaceEdit, ...]
    problems: tuple[str, ...] = ()

    @property
    def applicable(self) -> bool:
        return not self.problems and self.change is not None

    @property
    def created(self) -> bool:
        return self.change is not None and self.change.created

    def diff(self) -> str:
        """A unified diff of the change ("" when it cannot apply)."""
        return self.change.diff() if self.change is not None else ""

    def counts(self) -> tuple[int, int]:
        """Lines added and removed."""
        added = removed = 0
        for line in self.diff().splitlines():
            if line.startswith("+") and not line.startswith("+++"):
                added += 1
            elif line.startswith("-") and not line.startswith("---"):
                removed += 1
        return added, removed


@dataclass(frozen=True)
class Proposal:
    """An answer's edits, file by file, and what could not be parsed."""

    text: str
    files: tuple[FileProposal, ...]
    problems: tuple[str, ...] = ()

    @property
    def applicable(self) -> tuple[FileProposal, ...]:
        return tuple(f for f in self.files if f.applicable)


def propose(root: Path, text: str, snapshots: Mapping[str, FileSnapshot] | None = None) -> Proposal | None:
    """The answer's edits checked against the tree at ``root``; None when the answer holds no edit blocks."""
    report = apply_response(root, text, dry_run=True, read_snapshots=snapshots)
    if not report.outcomes and report.parse_problems in ((), (NO_EDITS,)):
        return None
    changes = {change.path: change for change in report.changes}
    by_path: dict[str, list] = {}
    for outcome in report.outcomes:
        by_path.setdefault(outcome.path, []).append(outcome)
    files = []
    for path, outcomes in by_path.items():
        problems = [f"edit {o.edit.index} {o.status.value}: {o.reason}" for o in outcomes if not o.ok]
        change = changes.get(path)
        if not problems and change is None:
            problems.append("the edits change nothing")
        edits = tuple(o.edit for o in outcomes if isinstance(o.edit, SearchReplaceEdit))
        files.append(FileProposal(path, None if problems else change, edits, tuple(problems)))
    return Proposal(text, tuple(files), tuple(report.parse_problems))


def render_blocks(edits: Collection[SearchReplaceEdit]) -> str:
    """SEARCH/REPLACE blocks for ``edits``, each under its file name line (the parser reads them back as is)."""
    return "\n".join(f"{e.path}\n<<<<<<< SEARCH\n{e.search}=======\n{e.replace}>>>>>>> REPLACE\n" for e in edits)


def response_for(proposal: Proposal, accepted: Collection[str]) -> str:
    """The answer with only the blocks of the ``accepted`` files, in their original order."""
    edits = sorted((e for f in proposal.files if f.path in accepted and f.applicable for e in f.edits),
                   key=lambda e: e.index)
    return render_blocks(edits)
