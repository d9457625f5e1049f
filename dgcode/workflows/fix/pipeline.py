"""The one-shot fix pipeline: files in, model edits checked and applied, the user's check command re-run.

``run_fix`` is a loop of plain steps over an *engine seam* (``FixEngine``):

1. with a check command (``--cmd``), run it; if it passes there is nothing to do;
2. pick the task's files: the paths given, else the changed files (``git diff
   --name-only HEAD`` and untracked ones), plus files the command's output names;
3. gather their context and build the prompt (wording in ``prompts/fix/``),
   with the repo map (context/prompt_map.py), the command's output (head and
   tail) and what went wrong last round, sized as the engine prefills it;
4. ask the engine; parse and plan the answer with ``apply_response`` in a dry
   run, refusing edits outside the task's files, outside the line range of a
   file named as ``PATH:START-END`` (RELIABILITY #7), and to CI, hook or
   dgcode config files nobody named (RELIABILITY #19);
5. unless this is a dry run, ask ``confirm``, then apply for real (snapshot,
   journal, all or nothing) with the files' read snapshots, so a file changed
   meanwhile is refused as stale; ``confirm`` answers True (all), False
   (nothing) or the accepted changes (some hunks only, dgcode/edits/hunks.py),
   and exactly what it accepted is written;
6. re-run the command; stop when it passes or after ``rounds`` attempts.

dgcode runs exactly one command: the one the person gave.  Nothing in the
model's answer is ever executed; it is only parsed for edit blocks.

The engine seam and its implementation over the real ``EngineClient`` live in
``dgcode/workflows/fix/engine.py``.
"""

from __future__ import annotations

import difflib
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from dgcode.context.errors import ContextError
from dgcode.context.gitcli import run_git, split_z
from dgcode.context.prefill import context_size_of, count_prefill, renderer_for
from dgcode.context.prompt import build_prompt, fence_for, fill
from dgcode.context.prompt_map import build_prompt_map
from dgcode.context.sources import LineRange, gather_context, parse_file_spec, readable_named_files, resolve_path
from dgcode.edits.apply import ApplyReport, apply_response
from dgcode.edits.atomic import FileSnapshot
from dgcode.edits.diff import FileChange
from dgcode.edits.errors import EditError
from dgcode.edits.hunks import Accepted, accepted_changes, apply_accepted, is_everything
from dgcode.engine.errors import EngineError, InvalidSettingsError, ModelFileError, PromptTooLongError
from dgcode.engine.settings import SamplerSettings
from dgcode.workflows.fix.engine import FixEngine, StepObserver
from dgcode.workflows.fix.report import Answer, CommandResult, FixReport, RoundReport
from dgcode.workflows.user_command import run_user_command

"""How much of the check command's output the model sees: its start and, mostly, its end."""
MAX_DISCOVERED_FILES = 12
"""Most files taken from the changed files and the command's output when no paths are given."""
MAX_NAMED_CANDIDATES = 400
SHELL_CANNOT_RUN = {126: "not executable", 127: "command not found"}
"""Exit statuses by which the shell says the command itself could not start: nothing for the model to fix."""
MAX_DIFF_CHARS = 4000
"""Uncommitted diffs shown with the files are cut here: the files themselves are in the prompt whole."""
PATH_IN_OUTPUT = re.compile(r"[\w./\\-]*\w\.[A-Za-z0-9_]+")
PROTECTED_FOLDERS = (".git/", ".github/", ".gitlab/", ".circleci/", ".githooks/", ".husky/", ".buildkite/")
PROTECTED_FILES = frozenset({".gitlab-ci.yml", ".travis.yml", "azure-pipelines.yml", "Jenkinsfile",
                             ".pre-commit-config.yaml", ".pre-commit-hooks.yaml", ".dgcode.toml", ".gitmodules"})
"""CI, hook and dgcode config files: the model may change them only when the person named them."""

Confirm = Callable[[tuple[FileChange, ...]], Accepted]
"""Shown the proposed changes: True (apply all), False (none), or the accepted changes (fewer hunks)."""


# --- the user's check command ------------------------------------------------------------------------


# --- which files --------------------------------------------------------------------------------------


def changed_files(root: Path) -> list[str]:
    """Files changed since HEAD (all tracked files before the first commit) and untracked ones, that exist."""
    has_head = run_git(root, "rev-parse", "--verify", "-q", "HEAD", ok_codes=(0, 1)).strip()
    tracked = (run_git(root, "diff", "--name-only", "-z", "--no-renames", "HEAD") if has_head
               else run_git(root, "ls-files", "-z", "--cached"))
    untracked = run_git(root, "ls-files", "-z", "--others", "--exclude-standard")
    names = dict.fromkeys(split_z(tracked) + split_z(untracked))
    return sorted(name for name in names if (root / name).is_file())


def files_named_in(output: str, root: Path) -> list[str]:
    """Repository files the text names (relative or absolute paths), in order of first mention."""
    real_root = Path(os.path.realpath(root))
    found: dict[str, None] = {}
    for raw in list(dict.fromkeys(PATH_IN_OUTPUT.findall(output)))[:MAX_NAMED_CANDIDATES]:
        try:
            relative, _absolute = resolve_path(real_root, raw)
        except ContextError:
            continue
        found[relative] = None
    return list(found)


def is_protected(path: str) -> bool:
    """CI configuration, git hooks or dgcode's own settings."""
    return path.startswith(PROTECTED_FOLDERS) or path in PROTECTED_FILES


def scope_problems(report: ApplyReport, allowed: set[str], named: set[str]) -> list[str]:
    """Why edits in ``report`` reach outside the task (files not in it, protected files not named)."""
    problems = []
    touched = dict.fromkeys([o.path for o in report.outcomes] + [c.path for c in report.changes])
    for path in touched:
        if path not in allowed:
            problems.append(f"edit to {path} refused: it is not one of this task's files "
                            f"({', '.join(sorted(allowed))}); name it as a path to let dgcode change it")
        elif is_protected(path) and path not in named:
            problems.append(f"edit to {path} refused: CI, hook and dgcode config files are changed only "
                            "when named as a path")
    return problems


def named_ranges(request: FixRequest) -> dict[str, tuple[LineRange, ...]]:
    """The files named only as line ranges (``PATH:START-END``), with their ranges; a file also named whole has none.

    Paths are checked by ``named_paths`` first; this only reads the specs.
    """
    ranges: dict[str, list[LineRange]] = {}
    whole: set[str] = set()
    for raw in request.paths:
        spec = parse_file_spec(raw)
        relative, _real = resolve_path(request.root, spec.path, request.cwd)
        if spec.lines is None:
            whole.add(relative)
        else:
            ranges.setdefault(relative, []).append(spec.lines)
    return {path: tuple(lines) for path, lines in ranges.items() if path not in whole}


def _outside(lines: Sequence[LineRange], first: int, last: int) -> bool:
    """Whether old lines ``first``..``last`` (1-based; ``last == first - 1``: an insertion before ``first``)
    reach outside every one of ``lines``."""
    if last < first:  # an insertion between lines last and first: inside or at the edge of a range
        return not any(r.start - 1 <= last <= r.end for r in lines)
    return not any(r.start <= first and last <= r.end for r in lines)


def range_problems(changes: Sequence[FileChange], ranges: dict[str, tuple[LineRange, ...]]) -> list[str]:
    """Why changes reach outside the line ranges the person named (one problem per file)."""
    problems = []
    for change in changes:
        lines = ranges.get(change.path)
        if not lines or change.old_bytes is None:
            continue
        old = change.old_bytes.decode("utf-8", "replace").splitlines()
        new = change.new_bytes.decode("utf-8", "replace").splitlines()
        for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            if tag != "equal" and _outside(lines, i1 + 1, i2):
                where = (f"after line {i1}" if i2 == i1 else f"line {i2}" if i2 == i1 + 1
                         else f"lines {i1 + 1}-{i2}")
                shown = ", ".join(str(r) for r in lines)
                problems.append(f"edit to {change.path} refused: it changes {where}, outside the named "
                                f"line range ({shown}); name a wider range, or the whole file, to let dgcode "
                                "change it")
                break
    return problems


# --- the loop ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixRequest:
    """What to fix, how to check it, how hard to try."""

    root: Path
    paths: tuple[str, ...] = ()
    """Files (``path`` or ``path:START-END``) relative to ``cwd``; empty: the changed files."""
    instruction: str = ""
    command: str | None = None
    rounds: int = 3
    command_timeout_s: float = 300.0
    dry_run: bool = False
    settings: SamplerSettings = field(default_factory=SamplerSettings)
    cwd: Path | None = None
    map_budget: int | None = None
    """The repo map's token budget; None: prompt_map.map_budget of the engine's context size; 0: no map."""
    candidates: int = 1
    """More than 1: ``fix/candidates.run_candidates`` instead, one round of that many answers judged by ``command``."""


def named_paths(request: FixRequest) -> set[str]:
    """The repo-relative files the person named; ContextError for a path that cannot be used or read."""
    return readable_named_files(request.root, request.paths, request.cwd)


def _task_files(request: FixRequest, last_run: CommandResult | None, notes: list[str]) -> list[str]:
    if request.paths:
        return list(request.paths)
    found = list(dict.fromkeys((files_named_in(last_run.output, request.root) if last_run else [])
                               + changed_files(request.root)))
    if len(found) > MAX_DISCOVERED_FILES:
        note = (f"{len(found)} changed or mentioned files; only the first {MAX_DISCOVERED_FILES} are sent "
                "(name the files to choose)")
        if note not in notes:
            notes.append(note)
    return found[:MAX_DISCOVERED_FILES]


def _instruction(request: FixRequest, last_run: CommandResult | None, feedback: str) -> str:
    parts = [request.instruction.strip() or fill("fix/task_command" if request.command else "fix/task")]
    if last_run is not None and not last_run.passed:
        outcome = ("did not finish within its time limit" if last_run.timed_out
                   else f"fails with exit status {last_run.exit_code}")
        output = last_run.output if last_run.output.endswith("\n") else last_run.output + "\n"
        cut = " (cut to its start and end)" if last_run.truncated else ""
        parts.append(fill("fix/command_failed", command=last_run.command, outcome=outcome, cut=cut,
                          fence=fence_for(output), output=output))
    if feedback:
        parts.append(feedback)
    return "\n\n".join(parts)


def _snapshots(root: Path, paths: Sequence[str]) -> dict[str, FileSnapshot]:
    snapshots = {}
    for path in paths:
        try:
            snapshots[path] = FileSnapshot.capture(root / path)
        except EditError:
            continue  # unreadable now: planning will refuse the edit with its own reason
    return snapshots


def _propose(request: FixRequest, round_: RoundReport, answer: Answer, snapshots: dict[str, FileSnapshot],
             named: set[str]) -> RoundReport:
    """The round with the answer's edits planned (dry run) and checked against the task's scope."""
    plan = apply_response(request.root, answer.text, dry_run=True, read_snapshots=snapshots)
    problems = list(plan.parse_problems) + scope_problems(plan, set(round_.files), named)
    problems += range_problems(plan.changes, named_ranges(request))
    problems += [f"edit {r['index']} ({r['file']}) {r['status']}: {r['reason']}"
                 for r in plan.edit_results() if r["status"] != "applied"]
    changes = plan.changes
    if not problems and not changes:
        problems.append("the edits change nothing")
    return replace(round_, answer=answer, edits=tuple(plan.edit_results()), problems=tuple(dict.fromkeys(problems)),
                   changes=changes)


def _why_not_written(applied: ApplyReport) -> tuple[str, ...]:
    reasons = [f"edit {r['index']} ({r['file']}) {r['status']}: {r['reason']}"
               for r in applied.edit_results() if r["status"] != "applied"]
    return tuple(([applied.error] if applied.error else []) + reasons) or ("the edits could not be written",)


def _problems_feedback(problems: Sequence[str]) -> str:
    return fill("fix/edits_not_used", problems="\n".join(f"- {p}" for p in problems))


class _Stop(Exception):
    """Ends the run early with a status and a message."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _ask(request: FixRequest, engine: FixEngine, number: int, last_run: CommandResult | None, feedback: str,
         named: set[str], notes: list[str], say: Callable[[str], None],
         on_step: StepObserver | None) -> tuple[RoundReport, str, dict[str, FileSnapshot]]:
    """One prompt and answer: the round with its checked proposal, the answer text, the files' read snapshots."""
    files = _task_files(request, last_run, notes)
    if not files and request.command:
        raise _Stop("failed", f"`{request.command}` fails, but no files changed and its output names none in "
                    "the repository: name the files to fix")
    if not files:
        raise _Stop("nothing_to_do", "no changed files and no paths given: nothing to fix")
    context = gather_context(request.root, files=files, instruction=_instruction(request, last_run, feedback),
                             cwd=request.cwd, max_diff_chars=MAX_DIFF_CHARS)
    notes.extend(note for note in context.notes if note not in notes)
    if not context.files:
        raise _Stop("failed", "none of the task's files can be sent to the model: " + "; ".join(context.notes))
    paths = tuple(f.path for f in context.files)
    snapshots = _snapshots(request.root, paths)
    try:
        engine.count_tokens("")  # loads the model, so its context size sizes the map
        repo_map = build_prompt_map(request.root, count_tokens=engine.count_tokens, chat_files=paths,
                                    instruction=context.instruction, budget=request.map_budget,
                                    context_size=context_size_of(engine))
        prompt = build_prompt(context, count_tokens=engine.count_tokens, repo_map=repo_map.text,
                              focus_map=repo_map.focus)
        prefill = count_prefill(prompt.messages, engine.count_tokens, renderer_for(engine))
        say(f"round {number}: {len(paths)} file(s), repo map {repo_map.tokens} tokens, "
            f"prefilling {prefill.tokens} prompt tokens")
        answer = engine.generate(prompt.messages, request.settings, on_step)
    except (ModelFileError, InvalidSettingsError, PromptTooLongError):
        raise
    except EngineError as error:
        raise _Stop("error", f"the engine failed in round {number}: {error}") from None
    say(f"round {number}: {answer.tokens} tokens in {answer.steps} steps, {answer.tok_per_s:.1f} tok/s "
        f"(prefill {answer.prefill_ms:.0f} ms)")
    current = _propose(request, RoundReport(number, paths, prefill.tokens, command_before=last_run), answer,
                       snapshots, named)
    return current, answer.text, snapshots


def _apply(request: FixRequest, current: RoundReport, text: str, snapshots: dict[str, FileSnapshot],
           rounds: list[RoundReport], accepted: tuple[FileChange, ...]) -> RoundReport:
    """Write the round's accepted edits for real; the round with what was written, or why nothing was."""
    if is_everything(current.changes, accepted):
        applied = apply_response(request.root, text, read_snapshots=snapshots)
    else:  # some hunks only: exactly the accepted bytes, planned against what was read
        current = replace(current, changes=accepted)
        applied = apply_accepted(request.root, accepted, read_snapshots=snapshots)
    if applied.recovery_needed:
        rounds.append(replace(current, problems=(applied.error,)))
        raise _Stop("error", applied.error)
    if not applied.written:
        return replace(current, problems=_why_not_written(applied))
    return replace(current, written=applied.written)


def run_fix(request: FixRequest, engine: FixEngine, *, confirm: Confirm = lambda _changes: True,
            say: Callable[[str], None] = lambda _m: None, on_step: StepObserver | None = None,
            run_command: Callable[[str, Path, float], CommandResult] = run_user_command,
            first_run: CommandResult | None = None) -> FixReport:
    """Fix what ``request`` asks, over ``engine``; see the module docstring for the steps.

    ``first_run`` is the check command's first run when the caller already
    made it and told the person (the hook): it is used as step 1's run,
    neither run again nor announced through ``say``.

    Raises ContextError for paths that cannot be used (or no repository),
    and the engine's ModelFileError, InvalidSettingsError and
    PromptTooLongError (problems with the setup, not with this attempt); any
    other engine failure ends the run with status ``error``.
    """
    began = time.monotonic()
    named = named_paths(request)
    rounds: list[RoundReport] = []
    runs: list[CommandResult] = []
    notes: list[str] = []

    def report(status: str, message: str) -> FixReport:
        return FixReport(status, message, tuple(rounds), tuple(runs), request.command, request.dry_run,
                         tuple(notes), time.monotonic() - began)

    def check() -> CommandResult:
        say(f"running `{request.command}`")
        runs.append(run_command(request.command, request.root, request.command_timeout_s))
        say(f"`{request.command}` " + ("passes" if runs[-1].passed else "timed out" if runs[-1].timed_out
                                       else f"fails (exit status {runs[-1].exit_code})"))
        return runs[-1]

    last_run = None
    if request.command and first_run is not None:
        runs.append(last_run := first_run)
    elif request.command:
        last_run = check()
    if last_run is not None and last_run.passed:
        return report("nothing_to_do", f"`{request.command}` passes already; nothing to fix")
    if last_run is not None and last_run.exit_code in SHELL_CANNOT_RUN:
        return report("error", f"`{request.command}` could not be run (exit status {last_run.exit_code}: "
                      f"{SHELL_CANNOT_RUN[last_run.exit_code]}); check the command")
    feedback = ""
    try:
        for number in range(1, request.rounds + 1):
            current, text, snapshots = _ask(request, engine, number, last_run, feedback, named, notes, say, on_step)
            if current.usable and request.dry_run:
                rounds.append(current)
                return report("proposed", f"dry run: the edits would change {len(current.changes)} file(s); "
                              "nothing was written")
            if current.usable:
                accepted = accepted_changes(current.changes, confirm(current.changes))
                if not accepted:
                    rounds.append(current)
                    return report("not_applied", "the edits were not applied")
                current = _apply(request, current, text, snapshots, rounds, accepted)
            rounds.append(current)
            if not current.written:
                say(f"round {number}: answer not usable: {current.problems[0]}")
                feedback = _problems_feedback(current.problems)
                continue
            say(f"round {number}: wrote {', '.join(current.written)}; `dgcode undo` reverts")
            if not request.command:
                return report("applied", f"applied edits to {', '.join(current.written)}; `dgcode undo` reverts them")
            last_run = check()
            if last_run.passed:
                written = dict.fromkeys(path for r in rounds for path in r.written)
                return report("fixed", f"`{request.command}` passes after {number} round(s); changed "
                              f"{', '.join(written)}; `dgcode undo` reverts the last round")
            feedback = fill("fix/still_failing", files=", ".join(current.written))
    except _Stop as stop:
        return report(stop.status, stop.message)
    return report("failed", _gave_up(request, rounds))


def _gave_up(request: FixRequest, rounds: Sequence[RoundReport]) -> str:
    what = f"`{request.command}` still fails" if request.command else "no usable edits"
    if rounds and rounds[-1].problems:
        what += f" (last answer: {rounds[-1].problems[0]})"
    written = list(dict.fromkeys(path for r in rounds for path in r.written))
    kept = f"; dgcode's edits to {', '.join(written)} stay, `dgcode undo` reverts the last round" if written else ""
    return f"gave up after {len(rounds)} round(s): {what}{kept}"
