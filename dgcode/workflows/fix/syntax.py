"""`dgcode fix` with dgcode's own repair model: Python files that do not compile, repaired and applied safely.

The embedded model does one narrow job (repair_model.py): given a file and
the compiler's error it rewrites the lines around it. This pipeline picks the
Python files (the named paths, else the changed and untracked ones), repairs
each that does not compile (file_repair.py: round by round, each rewrite
checked by compiling), turns every repaired file into one line-range edit
(InfillEdit) and applies them all through dgcode's normal path: planned
against what was read (a file changed meanwhile is refused), confirmed
(all, none, or some hunks: exactly the accepted bytes are written),
journaled and snapshotted so `dgcode undo` reverts them. A file whose error
the model cannot fix is left untouched and reported, and so is one whose repair the
model is not confident enough about (repair/abstain.py): "not confident enough to
repair line N". With a check command,
the command is run once afterwards and decides the outcome, also when there
was nothing to repair (a file that compiles can still fail the tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from dgcode.context.errors import ContextError
from dgcode.context.sources import parse_file_spec, resolve_path
from dgcode.edits.apply import apply_edits
from dgcode.edits.atomic import FileSnapshot, read_with_snapshot
from dgcode.edits.diff import FileChange
from dgcode.edits.errors import EditError, ErrorCode
from dgcode.edits.hunks import Accepted, accepted_changes, apply_accepted, is_everything
from dgcode.edits.infill import InfillEdit
from dgcode.engine.errors import EngineError, InvalidSettingsError, ModelFileError
from dgcode.repair.canvas import split_lines
from dgcode.repair.file_repair import FileRepair, RepairAsk, repair_source
from dgcode.workflows.fix.pipeline import FixRequest, changed_files, named_ranges, range_problems
from dgcode.workflows.fix.report import Answer, CommandResult, FixReport, RoundReport
from dgcode.workflows.user_command import run_user_command

Confirm = Callable[[tuple[FileChange, ...]], Accepted]
"""True (apply all), False (none), or the accepted changes (fewer hunks; exactly those bytes are written)."""
MAX_FILE_BYTES = 1 << 20
UNREADABLE = (ErrorCode.IO_FAILED, ErrorCode.UNSAFE_PATH)
"""Read failures that make a named file an error (a walked one is skipped with a note); too large is a skip."""
NOT_WRITTEN = "nothing was written: "


class SyntaxRepairer(Protocol):
    """What the pipeline needs from the repair model: one rewrite per (source, error line, message)."""

    ask: RepairAsk
    # optional ``policy`` (repair/abstain.py AbstainPolicy): when a repair that compiles is still not offered

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Target:
    path: str
    text: str
    snapshot: FileSnapshot


def _targets(request: FixRequest, notes: list[str]) -> list[_Target]:
    if request.paths:
        names = [resolve_path(request.root, parse_file_spec(p).path, request.cwd)[0] for p in request.paths]
    else:
        names = changed_files(request.root)
    targets = []
    for name in dict.fromkeys(names):
        if not name.endswith((".py", ".pyi")):
            if request.paths:
                notes.append(f"{name}: skipped; the embedded model repairs Python files only")
            continue
        try:
            data, snapshot = read_with_snapshot(request.root / name, max_bytes=MAX_FILE_BYTES)
        except EditError as error:
            if request.paths and error.code in UNREADABLE:  # named by the person: an error, not a silent skip
                raise ContextError(f"cannot repair {name}: {error}; nothing was repaired") from None
            notes.append(f"{name}: skipped ({error})")
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            notes.append(f"{name}: skipped; it is not UTF-8 text")
            continue
        targets.append(_Target(name, text, snapshot))
    return targets


def line_range_edit(path: str, old: str, new: str) -> InfillEdit:
    """One edit replacing the lines where `old` and `new` differ (at least one old line, so it names a range)."""
    old_lines, new_lines = split_lines(old), split_lines(new)
    head = 0
    while head < min(len(old_lines), len(new_lines)) and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while (tail < min(len(old_lines), len(new_lines)) - head
           and old_lines[-1 - tail] == new_lines[-1 - tail]):
        tail += 1
    if head + tail >= len(old_lines):  # a pure insertion: take one neighbouring line into the range
        if tail:
            tail -= 1
        else:
            head -= 1
    start, end = head + 1, len(old_lines) - tail
    expected = "".join(old_lines[head:len(old_lines) - tail])
    replacement = "".join(new_lines[head:len(new_lines) - tail])
    return InfillEdit(path, start, end, _lf_lines(expected), _lf_lines(replacement))


def _lf_lines(text: str) -> str:
    """Infill text is "\\n"-terminated lines; a file's own line endings are kept by the planner."""
    return "".join(line.rstrip("\r\n") + "\n" for line in split_lines(text))


def _answer(repairs: Sequence[FileRepair]) -> Answer:
    steps = sum(r.steps for r in repairs)
    tokens = sum(r.tokens for r in repairs)
    wall = sum(r.wall_s for r in repairs)
    summary = "\n".join(f"{r.path}: {r.error} -> {'compiles' if r.repaired_ok else r.problem}" for r in repairs)
    return Answer(summary, tokens, steps, "repaired", 0.0, wall)


def run_syntax_fix(request: FixRequest, repairer: SyntaxRepairer, *, confirm: Confirm = lambda _c: True,
                   say: Callable[[str], None] = lambda _m: None,
                   run_command: Callable[[str, Path, float], CommandResult] = run_user_command) -> FixReport:
    """Repair the syntax errors of the request's Python files; see the module docstring.

    Raises ContextError for named paths that cannot be used or read, and the engine's ModelFileError and
    InvalidSettingsError (set-up problems); any other engine failure ends the run with status ``error``.
    """
    began = time.monotonic()
    notes: list[str] = []
    runs: list[CommandResult] = []

    def report(status: str, message: str, rounds: tuple[RoundReport, ...] = ()) -> FixReport:
        return FixReport(status, message, rounds, tuple(runs), request.command, request.dry_run, tuple(notes),
                         time.monotonic() - began)

    def nothing_to_repair(message: str) -> FixReport:
        """Nothing for the repair model to do: the person's command, when given, still runs and decides."""
        if not request.command:
            return report("nothing_to_do", message)
        say(f"running `{request.command}`")
        runs.append(run_command(request.command, request.root, request.command_timeout_s))
        if runs[-1].passed:
            return report("nothing_to_do", f"{message}; `{request.command}` passes")
        return report("failed", f"{message}, but `{request.command}` fails (exit status {runs[-1].exit_code}); "
                      "dgcode's embedded model repairs Python syntax errors only: use a full model (--model "
                      "PATH.gguf, `dgcode models list`) to fix what the command reports")

    targets = _targets(request, notes)
    if not targets:
        return nothing_to_repair("no Python files to repair" + ("" if request.paths else
                                 " among the changed files; name the files to repair"))
    repairs = []
    for target in targets:
        try:
            repair = repair_source(target.path, target.text, repairer.ask, policy=getattr(repairer, "policy", None))
        except (ModelFileError, InvalidSettingsError):
            raise
        except EngineError as error:
            return report("error", f"the engine failed while repairing {target.path}: {error}; nothing was written")
        if repair.needed:
            guess = (" (with a rewrite that was not the model's first answer; the compiler accepts it, "
                     "but check the diff)") if repair.second_guesses else ""
            say(f"{target.path}: " + (f"{repair.error}: repaired{guess}" if repair.repaired_ok else repair.problem))
            repairs.append(repair)
    if not repairs:
        return nothing_to_repair(f"{len(targets)} Python file(s) compile already; nothing to repair")
    fixed = [r for r in repairs if r.repaired_ok]
    failed = [f"{r.path}: {r.problem}" for r in repairs if not r.repaired_ok]
    snapshots = {t.path: t.snapshot for t in targets}
    edits = [line_range_edit(r.path, r.original, r.repaired) for r in fixed]
    round_ = RoundReport(1, tuple(t.path for t in targets), 0, _answer(repairs), problems=tuple(failed))
    if not edits:
        return report("failed", "the repair model could not repair " + "; ".join(failed), (round_,))
    plan = apply_edits(request.root, edits, dry_run=True, read_snapshots=snapshots)
    changes = plan.changes
    round_ = RoundReport(1, round_.files, 0, round_.answer, tuple(plan.edit_results()),
                         tuple(failed) + tuple(r["reason"] for r in plan.edit_results() if r["status"] != "applied"),
                         changes)
    if not plan.ok:
        return report("failed", "the repairs cannot be applied: " + "; ".join(round_.problems), (round_,))
    outside = range_problems(changes, named_ranges(request))
    if outside:  # a PATH:START-END bounds the repair too (RELIABILITY #7)
        round_ = RoundReport(1, round_.files, 0, round_.answer, round_.edits, round_.problems + tuple(outside),
                             changes)
        return report("failed", "; ".join(outside) + "; nothing was written", (round_,))
    if request.dry_run:
        return report("proposed", f"dry run: the repairs would change {len(changes)} file(s); nothing was written",
                      (round_,))
    accepted = accepted_changes(changes, confirm(changes))
    if not accepted:
        return report("not_applied", "the repairs were not applied", (round_,))
    if is_everything(changes, accepted):
        applied = apply_edits(request.root, edits, read_snapshots=snapshots)
    else:  # some hunks only: exactly the accepted bytes
        changes = accepted
        applied = apply_accepted(request.root, accepted, read_snapshots=snapshots)
    if not applied.written:
        return report("error" if applied.recovery_needed else "failed", _not_written(applied), (round_,))
    round_ = RoundReport(1, round_.files, 0, round_.answer, round_.edits, round_.problems, changes, applied.written)
    written = ", ".join(applied.written)
    if request.command:
        say(f"running `{request.command}`")
        runs.append(run_command(request.command, request.root, request.command_timeout_s))
        if runs[-1].passed:
            return report("fixed", f"repaired {written}; `{request.command}` passes; `dgcode undo` reverts",
                          (round_,))
        return report("failed", f"repaired {written}, but `{request.command}` still fails (the repair model "
                      "repairs syntax errors only); `dgcode undo` reverts", (round_,))
    if failed:
        return report("failed", f"repaired {written}; could not repair " + "; ".join(failed)
                      + "; `dgcode undo` reverts the repairs", (round_,))
    return report("applied", f"repaired {written}; `dgcode undo` reverts", (round_,))


def _not_written(applied) -> str:
    """Why the apply wrote nothing, saying "nothing was written" once (apply's own errors often start with it),
    and not at all when a journal was left behind: then files may be part written, and the error says so."""
    if applied.recovery_needed:
        return applied.error
    reason = applied.error or "; ".join(r["reason"] for r in applied.edit_results() if r["status"] != "applied")
    return NOT_WRITTEN + reason.removeprefix(NOT_WRITTEN)
