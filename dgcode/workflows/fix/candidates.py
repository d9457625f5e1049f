"""`dgcode fix --candidates K`: K answers to one prompt, each judged by the user's command in a scratch copy.

``run_candidates`` is one round of the fix loop (pipeline.py) with K answers:

1. run the check command in the user's tree (as ``run_fix`` does); if it passes,
   or cannot start, stop there;
2. build the prompt exactly as ``run_fix`` does (``pipeline._ask``) and ask for K
   answers at once: ``generate_candidates`` denoises them together over one
   shared prompt prefill (engine/candidates.py; candidate 1 uses the user's
   settings, the others other seeds and a temperature); an engine without it
   (a remote endpoint) answers K times in turn with the same settings;
3. check each answer like any fix answer (``pipeline._propose``: parse, plan,
   scope), then apply it in its own ScratchTree (a temporary copy of the working
   tree, scratch_tree.py), never in the user's files, and run the command there
   within the time limit (``fix.timeout_s``; on a timeout its whole process group
   is killed): passed, failed (exit status N), timed out, or edits did not apply;
4. save every candidate's diff (and the command's output) under dgcode's state
   folder, ``.git/dgcode/candidates/<run>/candidate-N.diff`` (``.log``, and
   ``.answer.txt`` for an answer without usable edits); the last ``KEEP_RUNS`` runs are kept;
5. offer the first candidate that passed through the normal review (``confirm``,
   per hunk in a terminal), apply what was accepted with the journal and undo
   (``pipeline._apply``) and run the command once more in the real tree. If none
   passed, nothing is written and the status is ``failed``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from dgcode.edits.hunks import accepted_changes
from dgcode.edits.state import locate_state
from dgcode.engine.candidates import candidate_settings
from dgcode.workflows.fix.pipeline import (
    SHELL_CANNOT_RUN,
    Confirm,
    FixRequest,
    _apply,
    _ask,
    _propose,
    _Stop,
    named_paths,
)
from dgcode.workflows.fix.report import Answer, CommandResult, FixReport, RoundReport, change_json
from dgcode.workflows.fix.scratch_tree import try_in_copy
from dgcode.workflows.user_command import run_user_command

PASSED, FAILED, TIMED_OUT, NOT_APPLIED = "passed", "failed", "timed_out", "edits_did_not_apply"
KEEP_RUNS = 10
"""Runs whose candidate diffs are kept under the state folder (the oldest go first)."""


@dataclass(frozen=True)
class CandidateVerdict:
    """One candidate: its checked answer, how the command judged it in the scratch copy, where its diff is."""

    number: int                       # 1-based; candidate 1 is the user's own settings
    verdict: str                      # passed | failed | timed_out | edits_did_not_apply
    round: RoundReport                # the answer, its edits, problems and changes (as a fix round)
    run: CommandResult | None = None  # the command's run in the scratch copy (None: not run)
    diff_file: str | None = None
    log_file: str | None = None
    seed: int = 0
    temperature: float = 0.0

    def describe(self) -> str:
        if self.verdict == PASSED:
            return "passed"
        if self.verdict == TIMED_OUT:
            return f"timed out (stopped after {self.run.seconds:.1f} s)"
        if self.verdict == FAILED:
            return f"failed (exit status {self.run.exit_code})"
        return "edits did not apply: " + (self.round.problems[0] if self.round.problems else "no changes")

    def to_json(self) -> dict[str, object]:
        return {"candidate": self.number, "verdict": self.verdict, "summary": self.describe(),
                "seed": self.seed, "temperature": self.temperature,
                "generation": self.round.answer.to_json() if self.round.answer else None,
                "problems": list(self.round.problems),
                "changes": [change_json(change) for change in self.round.changes],
                "command": self.run.to_json() if self.run else None,
                "diff_file": self.diff_file, "log_file": self.log_file}


@dataclass(frozen=True)
class CandidatesReport(FixReport):
    """A fix report with the K candidates, which one was offered, and the engine's counters."""

    candidates: tuple[CandidateVerdict, ...] = ()
    offered: int | None = None        # the candidate offered for review (the first that passed)
    diff_folder: str | None = None
    engine_counters: dict = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        document = super().to_json()
        answers = [c.round.answer for c in self.candidates if c.round.answer is not None]
        tokens = sum(a.tokens for a in answers)
        model_s = float(self.engine_counters.get("wall_s") or sum(a.wall_s for a in answers))
        document["tokens"] = tokens
        document["tok_per_s"] = round(tokens / model_s, 2) if model_s > 0 else 0.0
        document["timings"]["model_s"] = round(model_s, 3)
        document["candidates"] = [c.to_json() for c in self.candidates]
        document["candidate_run"] = {"k": len(self.candidates), "offered": self.offered,
                                     "diff_folder": self.diff_folder, **self.engine_counters}
        return document


class _Gather:
    """The engine as ``pipeline._ask`` sees it: one ``generate`` that asks for K answers and keeps them all."""

    def __init__(self, engine, k: int):
        self.engine, self.k = engine, k
        self.answers: list[Answer] = []
        self.counters: dict = {}

    def __getattr__(self, name):  # count_tokens, render_chat, describe ... as the engine has them
        return getattr(self.engine, name)

    def generate(self, messages, settings, on_step=None) -> Answer:
        if hasattr(self.engine, "generate_candidates"):
            self.answers, counters = self.engine.generate_candidates(messages, settings, self.k, on_step)
            self.counters = {"batched": True, **counters}
        else:  # an engine that cannot batch sequences: the same K settings, one answer after another
            began = time.monotonic()
            for index in range(self.k):
                self.answers.append(self.engine.generate(messages, candidate_settings(settings, index),
                                                         _tagged(on_step, index)))
            self.counters = {"batched": False, "wall_s": time.monotonic() - began}
        return self.answers[0]


def _tagged(on_step, index: int):
    if on_step is None:
        return None

    def tag(event):
        try:
            event.candidate = index
        except AttributeError:
            pass
        return on_step(event)

    return tag


def _diff_folder(root: Path) -> Path:
    """A new folder for this run's candidates; the oldest runs beyond the last ``KEEP_RUNS`` are removed."""
    now = time.time_ns()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now / 1e9)) + f".{now % 10**9:09d}"
    parent = locate_state(root).folder / "candidates"
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{stamp}-", dir=parent))  # names sort by time
    runs = sorted(path for path in parent.iterdir() if path.is_dir() and path != folder)
    for old in runs[:max(len(runs) - (KEEP_RUNS - 1), 0)]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def _judge(request: FixRequest, number: int, round_: RoundReport, folder: Path,
           run_command: Callable[[str, Path, float], CommandResult]
           ) -> tuple[str, RoundReport, CommandResult | None, dict]:
    """The candidate's verdict, its round (with why its edits did not apply), its scratch run, the files saved."""
    saved: dict[str, str] = {}
    if not round_.usable:
        answer_file = folder / f"candidate-{number}.answer.txt"
        answer_file.write_text(round_.answer.text if round_.answer else "", encoding="utf-8")
        return NOT_APPLIED, round_, None, saved
    diff_file = folder / f"candidate-{number}.diff"
    diff_file.write_text("".join(change.diff() for change in round_.changes), encoding="utf-8")
    saved["diff_file"] = str(diff_file)
    trial = try_in_copy(request.root, round_.answer.text, request.command, request.command_timeout_s, run_command)
    if trial.run is None:  # the tree changed since the answer was planned
        return NOT_APPLIED, replace(round_, problems=trial.problems), None, saved
    run = trial.run
    log_file = folder / f"candidate-{number}.log"
    log_file.write_text(f"$ {run.command}\n# exit status {run.exit_code}, timed out: {run.timed_out}, "
                        f"{run.seconds:.2f} s\n{run.output}", encoding="utf-8")
    saved["log_file"] = str(log_file)
    verdict = PASSED if run.passed else TIMED_OUT if run.timed_out else FAILED
    return verdict, round_, run, saved


def run_candidates(request: FixRequest, engine, *, confirm: Confirm = lambda _changes: True,
                   say: Callable[[str], None] = lambda _m: None, on_step=None,
                   run_command: Callable[[str, Path, float], CommandResult] = run_user_command,
                   first_run: CommandResult | None = None) -> CandidatesReport:
    """Fix with ``request.candidates`` (K) answers judged by ``request.command``; see the module docstring."""
    k = request.candidates
    began = time.monotonic()
    named = named_paths(request)
    runs: list[CommandResult] = []
    notes: list[str] = []
    rounds: list[RoundReport] = []
    verdicts: list[CandidateVerdict] = []
    extra: dict = {}

    def report(status: str, message: str) -> CandidatesReport:
        return CandidatesReport(status, message, tuple(rounds), tuple(runs), request.command, request.dry_run,
                                tuple(notes), time.monotonic() - began, tuple(verdicts), **extra)

    if not request.command:
        return report("error", "--candidates needs a check command (--cmd) to judge the candidates")

    def check(where: str = "") -> CommandResult:
        say(f"running `{request.command}`{where}")
        runs.append(run_command(request.command, request.root, request.command_timeout_s))
        say(f"`{request.command}` " + ("passes" if runs[-1].passed else "timed out" if runs[-1].timed_out
                                       else f"fails (exit status {runs[-1].exit_code})"))
        return runs[-1]

    if first_run is not None:
        runs.append(last_run := first_run)
    else:
        last_run = check()
    if last_run.passed:
        return report("nothing_to_do", f"`{request.command}` passes already; nothing to fix")
    if last_run.exit_code in SHELL_CANNOT_RUN:
        return report("error", f"`{request.command}` could not be run (exit status {last_run.exit_code}: "
                      f"{SHELL_CANNOT_RUN[last_run.exit_code]}); check the command")
    gather = _Gather(engine, k)
    try:
        first, _text, snapshots = _ask(request, gather, 1, last_run, "", named, notes, say, on_step)
    except _Stop as stop:
        return report(stop.status, stop.message)
    blank = replace(first, answer=None, edits=(), problems=(), changes=())
    checked = [first] + [_propose(request, blank, answer, snapshots, named) for answer in gather.answers[1:]]
    folder = _diff_folder(request.root)
    extra.update(diff_folder=str(folder), engine_counters=gather.counters)
    say(f"{k} candidates; judging each with `{request.command}` in a scratch copy of the working tree")
    for number, round_ in enumerate(checked, start=1):
        verdict, round_, run, saved = _judge(request, number, round_, folder, run_command)
        own = candidate_settings(request.settings, number - 1)
        verdicts.append(CandidateVerdict(number, verdict, round_, run, seed=own.seed,
                                         temperature=own.temperature, **saved))
        say(f"candidate {number}: {verdicts[-1].describe()}")
    passing = [v for v in verdicts if v.verdict == PASSED]
    where = f"each candidate's diff is in {folder}"
    if not passing:
        return report("failed", f"none of the {k} candidates made `{request.command}` pass; nothing was "
                      f"written; {where}")
    chosen = passing[0]
    extra["offered"] = chosen.number
    current = chosen.round
    if request.dry_run:
        rounds.append(current)
        return report("proposed", f"dry run: candidate {chosen.number} passes `{request.command}` in a scratch "
                      f"copy; nothing was written; {where}")
    accepted = accepted_changes(current.changes, confirm(current.changes))
    if not accepted:
        rounds.append(current)
        return report("not_applied", f"candidate {chosen.number} passed but was not applied; {where}")
    try:
        current = _apply(request, current, chosen.round.answer.text, snapshots, rounds, accepted)
    except _Stop as stop:
        return report(stop.status, stop.message)
    rounds.append(current)
    if not current.written:
        return report("failed", f"candidate {chosen.number} could not be written: {current.problems[0]}")
    if check(" in your working tree").passed:
        return report("fixed", f"candidate {chosen.number} of {k} makes `{request.command}` pass; changed "
                      f"{', '.join(current.written)}; `dgcode undo` reverts it; {where}")
    return report("failed", f"candidate {chosen.number} passed in the scratch copy, but `{request.command}` "
                  f"still fails in your working tree; `dgcode undo` reverts it; {where}")
